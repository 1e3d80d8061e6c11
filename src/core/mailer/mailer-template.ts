import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { PostalAddress } from '../customers/customer.repository';

// The mailer template lives in resources/mailer/ (HTML, CSS, issuer details); this fills it in.
// Every value is HTML-escaped; only the template's own CSS goes in as is. The page needs no
// network and no script (its CSP says so), so it renders the same on any desk.

export interface IssuerDetails {
  readonly name: string;
  readonly department: string;
  readonly addressLines: readonly string[];
  readonly returnAddress: string;
  readonly phone: string;
  readonly web: string;
}

export interface MailerTemplate {
  readonly html: string;
  readonly css: string;
  readonly issuer: IssuerDetails;
}

export interface MailerContent {
  readonly serial: string;
  readonly date: string;
  readonly n: string;
  readonly cardId: string;
  readonly keySeries: number;
  /** K as the keystore formats it: "XXXXC-XXXXC-…" (src/core/crypto/mailer-key-format.ts). */
  readonly formattedKey: string;
  readonly customerName: string;
  readonly address: PostalAddress;
}

/** resources/mailer from the source tree (tsx, vitest), the build (out/main) or a packaged app. */
export function findMailerTemplateDir(start: string = __dirname): string {
  const candidates: string[] = [];
  const resourcesPath = (process as { resourcesPath?: string }).resourcesPath;
  if (resourcesPath) candidates.push(join(resourcesPath, 'mailer'));
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    candidates.push(join(dir, 'resources', 'mailer'));
    if (dirname(dir) === dir) break;
  }
  const found = candidates.find((d) => existsSync(join(d, 'mailer.html')));
  if (!found) throw new Error('resources/mailer/mailer.html not found next to the application');
  return found;
}

export function loadMailerTemplate(dir: string = findMailerTemplateDir()): MailerTemplate {
  return {
    html: readFileSync(join(dir, 'mailer.html'), 'utf8'),
    css: readFileSync(join(dir, 'mailer.css'), 'utf8'),
    issuer: JSON.parse(readFileSync(join(dir, 'issuer.json'), 'utf8')) as IssuerDetails,
  };
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

/** The groups of K, each group's check character marked (underlined) for the cardholder. */
export function keyGroupsHtml(formattedKey: string): string {
  return formattedKey
    .split('-')
    .map((g) => `${escapeHtml(g.slice(0, -1))}<span class="check">${escapeHtml(g.slice(-1))}</span>`)
    .join('-');
}

export function fillMailer(t: MailerTemplate, c: MailerContent): string {
  const a = c.address;
  const recipient = [c.customerName, a.line1, a.line2, `${a.postalCode} ${a.city}`, a.country]
    .filter((l): l is string => typeof l === 'string' && l.trim() !== '')
    .map((l) => `<div>${escapeHtml(l)}</div>`)
    .join('');
  const raw: Record<string, string> = {
    css: t.css,
    recipientLines: recipient,
    keyGroups: keyGroupsHtml(c.formattedKey),
  };
  const text: Record<string, string> = {
    serial: c.serial,
    date: c.date,
    n: c.n,
    cardId: c.cardId,
    keySeries: String(c.keySeries),
    groupCount: String(c.formattedKey.split('-').length),
    customerName: c.customerName,
    issuerName: t.issuer.name,
    issuerDepartment: t.issuer.department,
    returnAddress: t.issuer.returnAddress,
    issuerAddress: t.issuer.addressLines.join(', '),
    issuerPhone: t.issuer.phone,
    issuerWeb: t.issuer.web,
  };
  return t.html.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => {
    if (Object.hasOwn(raw, name)) return raw[name] ?? '';
    if (Object.hasOwn(text, name)) return escapeHtml(text[name] ?? '');
    throw new Error(`mailer template: unknown placeholder ${whole}`);
  });
}
