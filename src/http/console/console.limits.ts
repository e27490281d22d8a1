/** The largest upload the console takes: a CSV of a few million addresses. */
export const CONSOLE_UPLOAD_LIMIT = 64 * 1024 * 1024;
