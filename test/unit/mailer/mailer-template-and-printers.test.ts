import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatMailerKey } from '../../../src/core/crypto/mailer-key-format';
import { LpPrinter, mailerPrinterFromEnv, PrivateFolderPrinter } from '../../../src/core/mailer/mailer-printers';
import {
  escapeHtml,
  fillMailer,
  findMailerTemplateDir,
  keyGroupsHtml,
  loadMailerTemplate,
} from '../../../src/core/mailer/mailer-template';

const content = (over: Partial<Parameters<typeof fillMailer>[1]> = {}) => ({
  serial: 'M-000042',
  date: '2026-12-02',
  n: 'N-7001',
  cardId: 'A0B1C20001',
  keySeries: 1,
  formattedKey: formatMailerKey(Buffer.alloc(16, 7)),
  customerName: 'Erika Mustermann',
  address: { line1: 'Heidestraße 17', line2: null, postalCode: '51147', city: 'Köln', country: 'Germany' },
  ...over,
});

describe('the mailer template', () => {
  const template = loadMailerTemplate();

  it('is found in resources/mailer and filled completely', () => {
    expect(findMailerTemplateDir()).toMatch(/resources[\\/]mailer$/);
    const html = fillMailer(template, content());
    expect(html).not.toContain('{{');
    expect(html).toContain('M-000042');
    expect(html).toContain('N-7001');
    expect(html).toContain('Heidestraße 17');
    expect(html).toContain(template.issuer.name);
  });

  it('escapes every value, so a customer record cannot inject markup or a request', () => {
    const html = fillMailer(
      template,
      content({
        customerName: '<img src="https://evil.example/x.png">',
        address: { line1: '"><script>x</script>', line2: "O'Brien & Co", postalCode: '1', city: 'c', country: 'x' },
      }),
    );
    expect(html).not.toContain('<img src="https');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;img src=&quot;https://evil.example/x.png&quot;&gt;');
    expect(html).toContain('O&#39;Brien &amp; Co');
    expect(escapeHtml(`<>&"'`)).toBe('&lt;&gt;&amp;&quot;&#39;');
  });

  it('marks the check character of each group and keeps the dashes, so the printed text is the documented format', () => {
    const k = formatMailerKey(Buffer.alloc(16, 7));
    const html = keyGroupsHtml(k);
    expect(html.split('<span class="check">')).toHaveLength(8);
    expect(html.replace(/<[^>]+>/g, '')).toBe(k);
  });

  it('needs no network: a CSP that allows nothing from outside, and no external URL', () => {
    const html = fillMailer(template, content());
    expect(html).toContain(`default-src 'none'`);
    expect(html).not.toMatch(/(?:src|href)=["']?(?:https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(\s*['"]?https?:/i);
  });

  it('refuses a template with a placeholder it does not know', () => {
    expect(() => fillMailer({ ...template, html: '<p>{{secretKey}}</p>' }, content())).toThrow(/unknown placeholder/);
  });
});

describe('the printers', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'otac-printer-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a private folder: 0700, each PDF 0600, never replaced', async () => {
    const dir = join(tmp(), 'mailers');
    const p = new PrivateFolderPrinter(dir);
    await p.print(Buffer.from('%PDF-1'), { serial: 'M-000001' });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'mailer-M-000001.pdf')).mode & 0o777).toBe(0o600);
    await expect(p.print(Buffer.from('%PDF-2'), { serial: 'M-000001' })).rejects.toThrow(/EEXIST/);
    expect(readFileSync(join(dir, 'mailer-M-000001.pdf'), 'utf8')).toBe('%PDF-1');
  });

  it('lp: the PDF on stdin to the named printer; a failing lp is a printer failure', async () => {
    const dir = tmp();
    const fake = join(dir, 'lp');
    writeFileSync(
      fake,
      `#!/bin/sh\necho "$@" > "${dir}/args"\ncat > "${dir}/job"\n[ "$2" = broken ] && exit 1\nexit 0\n`,
    );
    chmodSync(fake, 0o700);
    await new LpPrinter('secure-room', fake).print(Buffer.from('%PDF-x'), { serial: 'M-000007' });
    expect(readFileSync(join(dir, 'job'), 'utf8')).toBe('%PDF-x');
    expect(readFileSync(join(dir, 'args'), 'utf8').trim()).toBe('-d secure-room -t mailer M-000007 -');
    await expect(new LpPrinter('broken', fake).print(Buffer.from('x'), { serial: 'M-1' })).rejects.toMatchObject({
      code: 'MAILER_PRINTER_FAILED',
    });
    await expect(
      new LpPrinter('secure-room', join(dir, 'no-such-lp')).print(Buffer.from('x'), { serial: 'M-1' }),
    ).rejects.toMatchObject({ code: 'MAILER_PRINTER_FAILED' });
    expect(() => new LpPrinter('x; rm -rf /')).toThrow(/printer name/);
  });

  it('is chosen by configuration: a CUPS printer when named, otherwise the private folder', () => {
    const dir = tmp();
    expect(mailerPrinterFromEnv({ OTAC_MAILER_PRINTER: 'secure-room' }, dir).destination).toBe('lp: secure-room');
    expect(mailerPrinterFromEnv({}, dir).destination).toBe(`folder: ${join(dir, 'mailers')}`);
    expect(mailerPrinterFromEnv({ OTAC_MAILER_DIR: '/srv/m' }, dir).destination).toBe('folder: /srv/m');
    expect(readdirSync(dir)).toEqual([]); // nothing is created until a mailer is printed
  });
});
