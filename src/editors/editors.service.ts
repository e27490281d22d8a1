import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, EditorRole } from '../db/db.types.ts';
import { checkEmail } from '../core/email-address.ts';
import { AppError, invalid, notFound } from '../core/errors.ts';
import { type AuditEntry, type Editor, EditorsRepository, type SessionEditor } from './editors.repository.ts';

export type { AuditEntry, Editor, SessionEditor } from './editors.repository.ts';

/** A sign-in link works once, for this long. */
export const SIGN_IN_LINK_SECONDS = 15 * 60;
/** However active the editor, a session ends this long after sign-in. */
export const SESSION_ABSOLUTE_SECONDS = 7 * 24 * 3600;

/** Who did something: an editor in the console, or someone at the server's shell. */
export type Actor = { editor: Editor } | { cli: string };

export interface SessionOptions {
  idleSeconds: number;
}

const ROLES: readonly EditorRole[] = ['admin', 'editor'];

export function parseRole(value: string): EditorRole {
  if ((ROLES as readonly string[]).includes(value)) return value as EditorRole;
  throw invalid('editors.bad_role', `unknown role "${value}": expected admin or editor`);
}

/**
 * Editors, their sign-in links and sessions, and the audit log. Secrets (link tokens, session ids)
 * are 32 random bytes handed to the editor once; the database keeps only their SHA-256, so neither a
 * dump nor a read-only leak of it signs anyone in. Random rather than HMAC-signed because each must
 * be revocable and single-use, which needs a row anyway.
 */
export class EditorsService {
  private readonly repo: EditorsRepository;

  constructor(db: Kysely<Database>) {
    this.repo = new EditorsRepository(db);
  }

  async add(input: { email: string; name?: string; role?: EditorRole }, actor: Actor): Promise<Editor> {
    const email = canonical(input.email);
    const name = input.name?.trim() ? input.name.trim().slice(0, 200) : null;
    const added = await this.repo.add(email, name, input.role ?? 'editor');
    if (!added) throw new AppError('editors.exists', `${email} is already an editor`, { status: 409 });
    await this.audit(actor, 'editor.add', 'editor', email, { role: added.role });
    return added;
  }

  all(): Promise<Editor[]> {
    return this.repo.all();
  }

  byId(id: number): Promise<Editor | undefined> {
    return this.repo.byId(id);
  }

  /** Removes the editor; their links and sessions go with them, so they are signed out at once. */
  async remove(email: string, actor: Actor): Promise<Editor> {
    const address = canonical(email);
    const removed = await this.repo.remove(address);
    if (!removed) throw notFound('editors.not_found', `${address} is not an editor`);
    await this.audit(actor, 'editor.remove', 'editor', address, {});
    return removed;
  }

  /**
   * A one-time sign-in link for a known editor, or undefined for anyone else: the caller answers both
   * the same way, so the login form does not tell who is an editor.
   */
  async signInLink(email: string, publicUrl: string): Promise<{ url: string; editor: Editor } | undefined> {
    const check = checkEmail(email);
    if (!check.ok) return undefined;
    const editor = await this.repo.byEmail(check.email);
    if (!editor) return undefined;
    const token = randomBytes(32).toString('base64url');
    await this.repo.addSignInLink(editor.id, hash(token), new Date(Date.now() + SIGN_IN_LINK_SECONDS * 1000));
    return { url: `${publicUrl}/console/login/${token}`, editor };
  }

  /** `editors link`: like signInLink, but an unknown address is the user's mistake. */
  async signInLinkFor(email: string, publicUrl: string, actor: Actor): Promise<string> {
    const address = canonical(email);
    const link = await this.signInLink(address, publicUrl);
    if (!link)
      throw notFound('editors.not_found', `${address} is not an editor (digestmail editors add ${address})`);
    await this.audit(actor, 'editor.link', 'editor', address, {});
    return link.url;
  }

  async signInLinkUsable(token: string): Promise<boolean> {
    return isTokenShaped(token) && this.repo.signInLinkUsable(hash(token));
  }

  /** Uses the link (once) and opens a session; returns the session's secret for the cookie. */
  async signIn(token: string): Promise<{ sessionId: string; editor: Editor } | undefined> {
    if (!isTokenShaped(token)) return undefined;
    const editorId = await this.repo.useSignInLink(hash(token));
    if (editorId === undefined) return undefined;
    const editor = await this.repo.byId(editorId);
    if (!editor) return undefined;
    const sessionId = randomBytes(32).toString('base64url');
    await this.repo.addSession(
      hash(sessionId),
      editor.id,
      new Date(Date.now() + SESSION_ABSOLUTE_SECONDS * 1000),
    );
    await this.audit({ editor }, 'editor.sign_in', 'editor', editor.email, {});
    return { sessionId, editor };
  }

  /** The editor whose session this is, if it is still alive (and marks it used now). */
  async session(sessionId: string | undefined, options: SessionOptions): Promise<SessionEditor | undefined> {
    if (!sessionId || !isTokenShaped(sessionId)) return undefined;
    return this.repo.touchSession(hash(sessionId), options.idleSeconds);
  }

  async signOut(sessionId: string | undefined): Promise<void> {
    if (sessionId && isTokenShaped(sessionId)) await this.repo.endSession(hash(sessionId));
  }

  /** One audit row: who, what, on which object, when (now). */
  async audit(
    actor: Actor,
    action: string,
    objectType: string,
    objectId: string | number | null,
    detail: Record<string, unknown> = {},
  ): Promise<void> {
    await this.repo.recordAudit({
      actor: 'editor' in actor ? actor.editor.email : `cli:${actor.cli}`,
      editorId: 'editor' in actor ? actor.editor.id : null,
      action,
      objectType,
      objectId: objectId === null ? null : String(objectId),
      detail,
    });
  }

  auditLog(limit = 100, beforeId?: number): Promise<AuditEntry[]> {
    return this.repo.audit(Math.min(Math.max(limit, 1), 1000), beforeId);
  }
}

function canonical(email: string): string {
  const check = checkEmail(email);
  if (!check.ok)
    throw invalid('editors.bad_address', `"${email.trim()}" is not an email address: ${check.reason}`);
  return check.email;
}

function hash(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** 32 random bytes in base64url are 43 characters; anything else was never issued. */
function isTokenShaped(token: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(token);
}
