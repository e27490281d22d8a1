import type { Kysely } from 'kysely';
import type { Database } from '../db/db.types.ts';
import { PreviewsRepository } from './previews.repository.ts';

/** An editor's rendered previews, kept for a while; routes reach them through this service. */
export class PreviewsService {
  private readonly repo: PreviewsRepository;

  constructor(db: Kysely<Database>) {
    this.repo = new PreviewsRepository(db);
  }

  save(id: string, editorId: number, html: string): Promise<void> {
    return this.repo.save(id, editorId, html);
  }

  find(id: string, editorId: number): Promise<string | undefined> {
    return this.repo.find(id, editorId);
  }
}
