import { describe, expect, it } from 'vitest';
import { checkSupportSettings, supportSettingsFromEnv } from '../../../src/core/support/support-settings';

describe('support channel settings from the environment', () => {
  it('reads nothing when nothing is set: no channel, no listener', () => {
    expect(supportSettingsFromEnv({})).toEqual({});
  });

  it('reads SMTP, SMS and the inbound listener with their defaults', () => {
    const s = supportSettingsFromEnv({
      OTAC_SMTP_HOST: 'mail.bank.example',
      OTAC_MAIL_FROM: 'cards@bank.example',
      OTAC_SMS_GATEWAY_URL: 'https://sms.bank.example/send',
      OTAC_SMS_GATEWAY_TOKEN: 't0ken',
      OTAC_INBOUND_ADDRESS: 'card-support@bank.example',
    });
    expect(s).toEqual({
      smtp: { host: 'mail.bank.example', port: 587, tls: 'starttls', from: 'cards@bank.example' },
      sms: { url: 'https://sms.bank.example/send', token: 't0ken' },
      inbound: { address: 'card-support@bank.example', port: 2525, host: '127.0.0.1' },
    });
    expect(
      supportSettingsFromEnv({ OTAC_SMTP_HOST: 'm', OTAC_SMTP_TLS: 'implicit', OTAC_MAIL_FROM: 'f' }).smtp?.port,
    ).toBe(465);
    expect(() => checkSupportSettings(s)).not.toThrow();
  });

  it('refuses half a setting, a bad port or TLS mode, saying what to set', () => {
    expect(() => supportSettingsFromEnv({ OTAC_SMTP_HOST: 'm' })).toThrow(/OTAC_MAIL_FROM/);
    expect(() => supportSettingsFromEnv({ OTAC_SMS_GATEWAY_URL: 'https://x' })).toThrow(/OTAC_SMS_GATEWAY_TOKEN/);
    expect(() => supportSettingsFromEnv({ OTAC_SMTP_HOST: 'm', OTAC_MAIL_FROM: 'f', OTAC_SMTP_PORT: '99999' })).toThrow(
      /port/,
    );
    expect(() => supportSettingsFromEnv({ OTAC_SMTP_HOST: 'm', OTAC_MAIL_FROM: 'f', OTAC_SMTP_TLS: 'maybe' })).toThrow(
      /OTAC_SMTP_TLS/,
    );
  });

  it('refuses to send a passkey in clear over a network: SMTP without TLS or an http gateway off loopback', () => {
    const smtp = { host: 'mail.bank.example', port: 25, tls: 'none', from: 'f' } as const;
    expect(() => checkSupportSettings({ smtp })).toThrow(/TLS/);
    expect(() => checkSupportSettings({ smtp: { ...smtp, host: '127.0.0.1' } })).not.toThrow();
    expect(() => checkSupportSettings({ sms: { url: 'http://sms.bank.example/x', token: 't' } })).toThrow(/https/);
    expect(() => checkSupportSettings({ sms: { url: 'http://127.0.0.1:9/x', token: 't' } })).not.toThrow();
    expect(() => checkSupportSettings({ sms: { url: 'not a url', token: 't' } })).toThrow(/URL/);
  });
});
