import type { Kysely } from 'kysely';
import { AppError, invalid, notFound } from '../core/errors.ts';
import type { Database, OptInMode } from '../db/db.types.ts';
import { type List, ListsRepository, type ListWithCounts } from './lists.repository.ts';

export type { List, ListWithCounts };

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const LANGUAGE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$/;

export interface CreateListInput {
  slug: string;
  name: string;
  description?: string;
  optIn?: OptInMode;
  language?: string;
  topics?: string[];
  isPublic?: boolean;
  trackClicks?: boolean;
}

export type ListChanges = Partial<Omit<CreateListInput, 'slug'>>;

function checkName(value: string): string {
  const name = value.trim();
  if (!name) throw invalid('lists.name_missing', 'a list needs a name (--name)');
  return name;
}

function checkLanguage(value: string | undefined): string {
  const language = value?.trim() || 'en';
  if (!LANGUAGE.test(language)) {
    throw invalid(
      'lists.language_invalid',
      `language "${language}" is not a language tag such as en or zh-CN`,
    );
  }
  return language;
}

function cleanTopics(topics: string[] | undefined): string[] {
  return [...new Set((topics ?? []).map((t) => t.trim()).filter(Boolean))];
}

export class ListsService {
  private readonly lists: ListsRepository;

  constructor(db: Kysely<Database>) {
    this.lists = new ListsRepository(db);
  }

  async create(input: CreateListInput): Promise<List> {
    const slug = input.slug.trim();
    if (!SLUG.test(slug)) {
      throw invalid(
        'lists.slug_invalid',
        `list slug "${input.slug}" is not valid: use 1–63 lower-case letters, digits and hyphens, starting with a letter or digit`,
      );
    }
    const name = checkName(input.name);
    const language = checkLanguage(input.language);
    const topics = cleanTopics(input.topics);
    const created = await this.lists.insert({
      slug,
      name,
      optIn: input.optIn ?? 'double',
      language,
      topics,
      ...(input.description === undefined ? {} : { description: input.description }),
      ...(input.isPublic === undefined ? {} : { isPublic: input.isPublic }),
      ...(input.trackClicks === undefined ? {} : { trackClicks: input.trackClicks }),
    });
    if (!created) {
      throw new AppError('lists.slug_taken', `a list with slug "${slug}" already exists`, { status: 409 });
    }
    return created;
  }

  /** Changes what is given and keeps the rest (the console's list page, `digestmail list edit`). */
  async update(slug: string, changes: ListChanges): Promise<List> {
    await this.require(slug);
    const updated = await this.lists.update(slug, {
      ...(changes.name === undefined ? {} : { name: checkName(changes.name) }),
      ...(changes.description === undefined ? {} : { description: changes.description.trim() }),
      ...(changes.optIn === undefined ? {} : { optIn: changes.optIn }),
      ...(changes.language === undefined ? {} : { language: checkLanguage(changes.language) }),
      ...(changes.topics === undefined ? {} : { topics: cleanTopics(changes.topics) }),
      ...(changes.isPublic === undefined ? {} : { isPublic: changes.isPublic }),
      ...(changes.trackClicks === undefined ? {} : { trackClicks: changes.trackClicks }),
    });
    if (!updated) throw notFound('lists.not_found', `no list with slug "${slug}" (see: digestmail list ls)`);
    return updated;
  }

  /** The list a user named, or a clear error naming the slug. */
  async require(slug: string): Promise<List> {
    const list = await this.lists.findBySlug(slug);
    if (!list) throw notFound('lists.not_found', `no list with slug "${slug}" (see: digestmail list ls)`);
    return list;
  }

  findById(id: number): Promise<List | undefined> {
    return this.lists.findById(id);
  }

  find(slug: string): Promise<List | undefined> {
    return this.lists.findBySlug(slug);
  }

  all(): Promise<ListWithCounts[]> {
    return this.lists.listWithCounts();
  }
}
