import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { credentialsOf, urlWithoutToken } from './credentials.ts';

const req = (url: string, headers: Record<string, string> = {}) => ({ url, headers }) as unknown as IncomingMessage;

describe('ingress credentials on hostile input (found by fuzzing: these threw, and the gateway answered 500)', () => {
  it('a cookie with a malformed %-escape is taken as is, not thrown on', () => {
    assert.deepEqual(credentialsOf(req('/', { cookie: 'romulus_token=%zz' })), { token: '%zz', via: 'cookie' });
    assert.deepEqual(credentialsOf(req('/', { cookie: 'romulus_token=a%20b' })), { token: 'a b', via: 'cookie' });
  });
  it('paths starting // are paths, not hosts', () => {
    assert.deepEqual(credentialsOf(req('//', {})), { token: null, via: null });
    assert.deepEqual(credentialsOf(req('//evil.example/x?romulus_token=t')), { token: 't', via: 'query' });
    assert.equal(urlWithoutToken('//'), '//');
    assert.equal(urlWithoutToken('//evil.example/x?romulus_token=t&b=2'), '//evil.example/x?b=2');
    assert.equal(urlWithoutToken('/p?romulus_token=t'), '/p');
    assert.equal(urlWithoutToken('/p?a=%zz'), '/p?a=%zz');
  });
});
