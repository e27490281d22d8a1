import type { Kysely } from 'kysely';
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

  async listWithCounts(): Promise<ListWithCounts[]> {
    const rows = await this.db
      .selectFrom('lists as l')
      .leftJoin('subscriptions as s', 's.list_id', 'l.id')
      .selectAll('l')
      .select((eb) => [
        eb.fn.count<number>('s.subscriber_id').filterWhere('s.status', '=', 'pending').as('pending'),
        eb.fn.count<number>('s.subscriber_id').filterWhere('s.status', '=', 'confirmed').as('confirmed'),
        eb.fn
          .count<number>('s.subscriber_id')
          .filterWhere('s.status', '=', 'unsubscribed')
          .as('unsubscribed'),
      ])
      .groupBy('l.id')
      .orderBy('l.slug')
      .execute();
    return rows.map((row) => ({
      ...toList(row),
      counts: { pending: row.pending, confirmed: row.confirmed, unsubscribed: row.unsubscribed },
    }));
  }
}
