/**
 * One value of the HTTP `Warning` header as PS3.18 writes it (`299 {service}: "text"`, 8.3.5.1
 * and its examples): the text as a quoted string, on one line of Latin-1.
 */
export function warningValue(service: string, text: string): string {
  const quoted = text
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/[^\x20-\x7e\xa0-\xff]/g, '?')
    .replace(/["\\]/g, (c) => `\\${c}`);
  return `299 ${service}: "${quoted}"`;
}
