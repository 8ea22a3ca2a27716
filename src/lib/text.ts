/**
 * Text from outside (BMCs, booting machines, installers, file names) ends up in terminals,
 * log lines and iPXE scripts; C0 control characters and DEL there can move the cursor,
 * forge a line or end a command. One pattern for every place that removes or refuses them.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it matches
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/g;

export function hasControlCharacters(text: string): boolean {
  CONTROL_CHARACTERS.lastIndex = 0;
  return CONTROL_CHARACTERS.test(text);
}

/** The text with each control character replaced (by default removed). */
export function withoutControlCharacters(text: string, replacement = ''): string {
  return text.replace(CONTROL_CHARACTERS, replacement);
}

/** A string value trimmed and without control characters; null when that leaves nothing (BMCs pad and decorate). */
export function cleanText(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const trimmed = withoutControlCharacters(value).trim();
  return trimmed === '' ? null : trimmed;
}
