import { type Kysely, sql } from 'kysely';
import type { Database, EditorRole } from '../db/db.types.ts';

export interface Editor {
  id: number;
  email: string;
  name: string | null;
  role: EditorRole;
  createdAt: Date;
}

export interface SessionEditor extends Editor {
  /** When the session ends at the latest, whatever the editor does. */
  sessionExpiresAt: Date;
}

export interface AuditEntry {
  id: number;
  at: Date;
  actor: string;
  action: string;
  objectType: string;
  objectId: string | null;
  detail: Record<string, unknown>;
}

const EDITOR_COLUMNS = [
  'editors.id',
  'editors.email',
  'editors.name',
  'editors.role',
  'editors.created_at',
] as const;

function toEditor(row: {
  id: number;
  email: string;
  name: string | null;
  role: EditorRole;
  created_at: Date;
}): Editor {
  return { id: row.id, email: row.email, name: row.name, role: row.role, createdAt: row.created_at };
}

/** Editors, their one-time sign-in links, their sessions and the audit log: all SQL of `editors/`. */
export class EditorsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async add(email: string, name: string | null, role: EditorRole): Promise<Editor | undefined> {
    const row = await this.db
      .insertInto('editors')
      .values({ email, name, role })
      .onConflict((oc) => oc.column('email').doNothing())
      .returning(['id', 'email', 'name', 'role', 'created_at'])
      .executeTakeFirst();
    return row && toEditor(row);
  }

  async byEmail(email: string): Promise<Editor | undefined> {
    const row = await this.db
      .selectFrom('editors')
      .select(EDITOR_COLUMNS)
      .where('email', '=', email)
      .executeTakeFirst();
    return row && toEditor(row);
  }

  async byId(id: number): Promise<Editor | undefined> {
    const row = await this.db
      .selectFrom('editors')
      .select(EDITOR_COLUMNS)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toEditor(row);
  }

  async all(): Promise<Editor[]> {
    const rows = await this.db.selectFrom('editors').select(EDITOR_COLUMNS).orderBy('email').execute();
    return rows.map(toEditor);
  }

  async countAdmins(): Promise<number> {
    const row = await this.db
      .selectFrom('editors')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('role', '=', 'admin')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Removing an editor removes their links and sessions with them (ON DELETE CASCADE). */
  async remove(email: string): Promise<Editor | undefined> {
    const row = await this.db
      .deleteFrom('editors')
      .where('email', '=', email)
      .returning(['id', 'email', 'name', 'role', 'created_at'])
      .executeTakeFirst();
    return row && toEditor(row);
  }

  async addSignInLink(editorId: number, tokenHash: Buffer, expiresAt: Date): Promise<void> {
    await this.db
      .insertInto('editor_sign_in_links')
      .values({ token_hash: tokenHash, editor_id: editorId, expires_at: expiresAt })
      .execute();
    // Old links are worthless: keep the table small.
    await this.db
      .deleteFrom('editor_sign_in_links')
      .where('expires_at', '<', sql<Date>`now() - interval '1 day'`)
      .execute();
  }

  /** Whether a link would sign someone in now, without using it (for the page with the button). */
  async signInLinkUsable(tokenHash: Buffer): Promise<boolean> {
    const row = await this.db
      .selectFrom('editor_sign_in_links')
      .select('editor_id')
      .where('token_hash', '=', tokenHash)
      .where('used_at', 'is', null)
      .where('expires_at', '>', sql<Date>`now()`)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Marks a link used and returns its editor, in one statement: two POSTs racing with the same link
   * cannot both win, so a link signs in once.
   */
  async useSignInLink(tokenHash: Buffer): Promise<number | undefined> {
    const row = await this.db
      .updateTable('editor_sign_in_links')
      .set({ used_at: sql`now()` })
      .where('token_hash', '=', tokenHash)
      .where('used_at', 'is', null)
      .where('expires_at', '>', sql<Date>`now()`)
      .returning('editor_id')
      .executeTakeFirst();
    return row?.editor_id;
  }

  async addSession(idHash: Buffer, editorId: number, expiresAt: Date): Promise<void> {
    await this.db
      .insertInto('editor_sessions')
      .values({ id_hash: idHash, editor_id: editorId, expires_at: expiresAt })
      .execute();
    await this.db.deleteFrom('editor_sessions').where('expires_at', '<', sql<Date>`now()`).execute();
  }

  /**
   * The editor of a live session, touching it: a session dies after `idleSeconds` without a request
   * or at its absolute end, whichever comes first. One statement, so the check and the touch agree.
   */
  async touchSession(idHash: Buffer, idleSeconds: number): Promise<SessionEditor | undefined> {
    const row = await this.db
      .updateTable('editor_sessions')
      .set({ last_seen_at: sql`now()` })
      .from('editors')
      .whereRef('editors.id', '=', 'editor_sessions.editor_id')
      .where('editor_sessions.id_hash', '=', idHash)
      .where('editor_sessions.expires_at', '>', sql<Date>`now()`)
      .where('editor_sessions.last_seen_at', '>', sql<Date>`now() - make_interval(secs => ${idleSeconds})`)
      .returning([...EDITOR_COLUMNS, 'editor_sessions.expires_at as session_expires_at'])
      .executeTakeFirst();
    return row && { ...toEditor(row), sessionExpiresAt: row.session_expires_at };
  }

  async endSession(idHash: Buffer): Promise<void> {
    await this.db.deleteFrom('editor_sessions').where('id_hash', '=', idHash).execute();
  }

  async recordAudit(entry: {
    actor: string;
    editorId: number | null;
    action: string;
    objectType: string;
    objectId: string | null;
    detail: Record<string, unknown>;
  }): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({
        actor: entry.actor,
        editor_id: entry.editorId,
        action: entry.action,
        object_type: entry.objectType,
        object_id: entry.objectId,
        detail: JSON.stringify(entry.detail),
      })
      .execute();
  }

  async audit(limit: number, beforeId?: number): Promise<AuditEntry[]> {
    let query = this.db
      .selectFrom('audit_log')
      .select(['id', 'at', 'actor', 'action', 'object_type', 'object_id', 'detail'])
      .orderBy('id', 'desc')
      .limit(limit);
    if (beforeId !== undefined) query = query.where('id', '<', beforeId);
    const rows = await query.execute();
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      action: r.action,
      objectType: r.object_type,
      objectId: r.object_id,
      detail: r.detail,
    }));
  }
}
