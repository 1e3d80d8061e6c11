import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { appUrlMatcher, devRendererUrl } from '../../../src/main/app-url';

describe('devRendererUrl: the dev server only in development, only on loopback http', () => {
  it('is honoured in an unpackaged run on a loopback http URL', () => {
    expect(devRendererUrl('http://localhost:5173', false)?.origin).toBe('http://localhost:5173');
    expect(devRendererUrl('http://127.0.0.1:5173/', false)?.origin).toBe('http://127.0.0.1:5173');
    expect(devRendererUrl('http://[::1]:5173', false)?.origin).toBe('http://[::1]:5173');
  });

  it('is ignored in a packaged app, whatever it says', () => {
    expect(devRendererUrl('http://localhost:5173', true)).toBeNull();
    expect(devRendererUrl('https://evil.example', true)).toBeNull();
  });

  it('is ignored when it names another host, another scheme, credentials or nothing valid', () => {
    for (const value of [
      'https://evil.example',
      'http://evil.example:5173',
      'http://localhost.evil.example:5173',
      'http://localhost:5173@evil.example',
      'https://localhost:5173',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'http://user:pw@localhost:5173',
      'not a url',
      '',
      undefined,
    ]) {
      expect(devRendererUrl(value, false), String(value)).toBeNull();
    }
  });
});

describe('appUrlMatcher: the app window matches its own origin exactly', () => {
  it('accepts the dev server origin and refuses look-alikes that share its prefix', () => {
    const isApp = appUrlMatcher(new URL('http://localhost:5173'));
    expect(isApp('http://localhost:5173/')).toBe(true);
    expect(isApp('http://localhost:5173/#/keys')).toBe(true);
    for (const url of [
      'http://localhost:5173.evil',
      'http://localhost:5173.evil.example/',
      'http://localhost:51730/',
      'http://localhost:5173@evil.example/',
      'https://localhost:5173/',
      'http://127.0.0.1:5173/',
      'http://localhost/',
      'not a url',
    ]) {
      expect(isApp(url), url).toBe(false);
    }
  });

  it('accepts the built index.html and nothing beside it', () => {
    const file = resolve('/opt/otac/resources/app.asar/out/renderer/index.html');
    const isApp = appUrlMatcher({ file });
    const href = pathToFileURL(file).href;
    expect(isApp(href)).toBe(true);
    expect(isApp(`${href}#/admin`)).toBe(true);
    for (const url of [
      `${href}.evil.html`,
      pathToFileURL(resolve(file, '../other.html')).href,
      'file:///etc/passwd',
      'http://localhost:5173/',
      href.replace('file:///', 'file://evil.example/'),
    ]) {
      expect(isApp(url), url).toBe(false);
    }
  });
});
