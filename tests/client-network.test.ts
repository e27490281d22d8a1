import { describe, expect, it } from 'vitest';
import { clientNetwork } from '../src/subscriptions/signup.service.ts';

describe('the network a signup counts against', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:aaaa::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    [undefined, 'unknown'],
  ])('%s counts as %s', (ip, network) => {
    expect(clientNetwork(ip)).toBe(network);
  });

  it('two addresses of one IPv6 /64 share a count, neighbouring /64s do not', () => {
    expect(clientNetwork('2001:db8:1:2::a')).toBe(clientNetwork('2001:db8:1:2:ffff::b'));
    expect(clientNetwork('2001:db8:1:2::a')).not.toBe(clientNetwork('2001:db8:1:3::a'));
  });
});

describe('the network a signup counts against, in the other forms a socket or proxy reports', () => {
  it.each([
    // An IPv6 address ending in an embedded IPv4 address (NAT64, RFC 6052).
    ['64:ff9b::203.0.113.9', '64:ff9b:0:0::/64'],
    // A zone index (a link-local address as a socket reports it).
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    // Upper case and leading zeros.
    ['2001:0DB8:0001:0002::1', '2001:db8:1:2::/64'],
    ['::FFFF:203.0.113.9', '203.0.113.9'],
  ])('%s counts as %s', (ip, network) => {
    expect(clientNetwork(ip)).toBe(network);
  });
});
