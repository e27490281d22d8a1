import { describe, expect, it } from 'vitest';
import { checkSnsUrl, hostPattern } from '../src/bounces/sns.verifier.ts';
import { loadConfig } from '../src/config/config.loader.ts';

/** The default SNS_CERT_HOST_PATTERN, as an operator gets it. */
const pattern = hostPattern(loadConfig({ SECRET_KEY: 'x'.repeat(32) }).SNS_CERT_HOST_PATTERN);

describe('which URLs SNS may send us to (default SNS_CERT_HOST_PATTERN)', () => {
  for (const url of [
    'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem',
    'https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-abc.pem',
    'https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem',
  ]) {
    it(`accepts ${url}`, () => {
      expect(checkSnsUrl(url, pattern, 'certificate').hostname).toMatch(/^sns\./);
    });
  }
  for (const [url, why] of [
    ['http://sns.us-east-1.amazonaws.com/x.pem', /not https/],
    ['https://sns.evil.com/x.pem', /not an SNS host/],
    ['https://sns.us-east-1.amazonaws.com.evil.com/x.pem', /not an SNS host/],
    ['https://evil.com/sns.us-east-1.amazonaws.com/x.pem', /not an SNS host/],
    ['https://sns.us-east-1.amazonaws.com@evil.com/x.pem', /not an SNS host|user info/],
    ['https://evil.sns.us-east-1.amazonaws.com/x.pem', /not an SNS host/],
    ['https://sns.us-east-1.amazonaws.com/x.txt', /does not end in \.pem/],
    ['https://sns.us-east-1.amazonaws.com:8443/x.pem', /port other than 443/],
    ['not a url', /not a URL/],
  ] as const) {
    it(`refuses ${url}`, () => {
      expect(() => checkSnsUrl(url, pattern, 'certificate')).toThrow(why);
    });
  }
});
