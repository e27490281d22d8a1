import { type Kysely, sql } from 'kysely';
import type { Database, ListRow, OptInMode } from '../db/db.types.ts';

export interface List {
  id: number;
  slug: string;
  name: string;
  description: string;
  optIn: OptInMode;
  language: string;
  topics: string[];
  isPublic: boolean;
  /** Whether issues of this list count which links readers click (opt-in, off by default). */
  trackClicks: boolean;
  createdAt: Date;
}

export interface NewListInput {
  slug: string;
  name: string;
  description?: string;
  optIn: OptInMode;
  language?: string;
  topics?: string[];
  isPublic?: boolean;
  trackClicks?: boolean;
}

export interface ListWithCounts extends List {
  counts: { pending: number; confirmed: number; unsubscribed: number };
}

function toList(row: ListRow): List {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    description: row.description,
    optIn: row.opt_in,
    language: row.language,
    topics: row.topics,
    isPublic: row.is_public,
    trackClicks: row.track_clicks,
    createdAt: row.created_at,
  };
}

export class ListsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Returns undefined when the slug is taken. */
  async insert(input: NewListInput): Promise<List | undefined> {
    const row = await this.db
      .insertInto('lists')
      .values({
        slug: input.slug,
        name: input.name,
        description: input.description ?? '',
        opt_in: input.optIn,
        language: input.language ?? 'en',
        topics: input.topics ?? [],
        is_public: input.isPublic ?? true,
        track_clicks: input.trackClicks ?? false,
      })
      .onConflict((oc) => oc.column('slug').doNothing())
      .returningAll()
      .executeTakeFirst();
    return row ? toList(row) : undefined;
  }

  async update(slug: string, changes: Partial<Omit<NewListInput, 'slug'>>): Promise<List | undefined> {
    const row = await this.db
      .updateTable('lists')
      .set({
        ...(changes.name === undefined ? {} : { name: changes.name }),
        ...(changes.description === undefined ? {} : { description: changes.description }),
        ...(changes.optIn === undefined ? {} : { opt_in: changes.optIn }),
        ...(changes.language === undefined ? {} : { language: changes.language }),
        ...(changes.topics === undefined ? {} : { topics: changes.topics }),
        ...(changes.isPublic === undefined ? {} : { is_public: changes.isPublic }),
        ...(changes.trackClicks === undefined ? {} : { track_clicks: changes.trackClicks }),
        updated_at: new Date(),
      })
      .where('slug', '=', slug)
      .returningAll()
      .executeTakeFirst();
    return row ? toList(row) : undefined;
  }

  async findBySlug(slug: string): Promise<List | undefined> {
    const row = await this.db.selectFrom('lists').selectAll().where('slug', '=', slug).executeTakeFirst();
    return row ? toList(row) : undefined;
  }

  async findById(id: number): Promise<List | undefined> {
    const row = await this.db.selectFrom('lists').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toList(row) : undefined;
  }

  /**
   * Every list with its subscription counts, read from the counters kept by triggers (migration
   * 233): a few rows per list, whatever the number of subscribers. Now and then (more than a
   * hundred delta rows per list) the deltas are folded first.
   */
  async listWithCounts(): Promise<ListWithCounts[]> {
    const deltas = await sql<{ n: number; lists: number }>`
      select (select count(*) from subscription_counts)::int as n, (select count(*) from lists)::int as lists
    `.execute(this.db);
    const { n, lists } = deltas.rows[0] ?? { n: 0, lists: 0 };
    if (n > 100 * Math.max(1, lists))
      await sql`select digestmail_compact_subscription_counts()`.execute(this.db);
    const rows = await this.db
      .selectFrom('lists as l')
      .leftJoin('subscription_counts as c', 'c.list_id', 'l.id')
      .selectAll('l')
      .select((eb) => [
        eb.fn
          .coalesce(eb.fn.sum<number>('c.n').filterWhere('c.status', '=', 'pending'), eb.lit(0))
          .as('pending'),
        eb.fn
          .coalesce(eb.fn.sum<number>('c.n').filterWhere('c.status', '=', 'confirmed'), eb.lit(0))
          .as('confirmed'),
        eb.fn
          .coalesce(eb.fn.sum<number>('c.n').filterWhere('c.status', '=', 'unsubscribed'), eb.lit(0))
          .as('unsubscribed'),
      ])
      .groupBy('l.id')
      .orderBy('l.slug')
      .execute();
    return rows.map((row) => ({
      ...toList(row),
      counts: {
        pending: Number(row.pending),
        confirmed: Number(row.confirmed),
        unsubscribed: Number(row.unsubscribed),
      },
    }));
  }
}
