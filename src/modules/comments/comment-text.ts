/**
 * What a comment's text may be, with no HTTP in it. Comments are plain text: stored and returned
 * exactly as written (after the normalisation below), never parsed as markup. `<b>`, `&amp;` or
 * `<script>` are kept as the characters they are; the API answers JSON only (`application/json`,
 * `nosniff`, `default-src 'none'`), so nothing in a comment is ever rendered as HTML by us, and a
 * client that shows comments must insert them as text (`textContent`), never as HTML.
 */
export const COMMENT_MAX_LENGTH = 2000;

/**
 * C0 controls other than tab and newline, DEL and the C1 controls: invisible, and NUL cannot be
 * stored in PostgreSQL text at all. (Carriage returns are normalised away before this is checked.)
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is this pattern's job
const CONTROL = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/;

export type CommentTextProblem = 'empty' | 'too_long' | 'control_character' | 'malformed_unicode';

export const COMMENT_TEXT_PROBLEMS: Record<CommentTextProblem, string> = {
  empty: 'Comment text is empty (after trimming white space)',
  too_long: `Comment text is longer than ${COMMENT_MAX_LENGTH} characters`,
  control_character: 'Comment text contains a control character (only newline and tab are allowed)',
  malformed_unicode: 'Comment text is not well-formed Unicode (a lone surrogate)',
};

/** CRLF and lone CR become LF, then surrounding white space goes. */
export function normaliseCommentText(raw: string): string {
  return raw.replace(/\r\n?/g, '\n').trim();
}

/** The first problem with already-normalised text, or undefined when it may be stored. */
export function commentTextProblem(text: string): CommentTextProblem | undefined {
  if (!text.isWellFormed()) return 'malformed_unicode';
  if (text.length === 0) return 'empty';
  if (CONTROL.test(text)) return 'control_character';
  // Counted in code points, as PostgreSQL's char_length is (the table's CHECK).
  let length = 0;
  for (const _ of text) if (++length > COMMENT_MAX_LENGTH) return 'too_long';
  return undefined;
}
