import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, hashParts } from './hash.ts';
import { checkRecipe, recipeDebs, recipeHash, type HashInputs, type ImageRecipe } from './recipe.ts';

const recipe: ImageRecipe = {
  name: 'demo',
  version: '1.0.0',
  debs: ['git', 'curl'],
  npmGlobal: ['typescript@5.9.3'],
  files: [{ path: '/etc/demo.conf', content: 'a=1\n' }],
  customize: ['echo hi > /etc/hi'],
  manifest: {
    minVcpus: 1, minMemoryMib: 128, diskMib: 64, agentPort: 8080,
    readiness: { type: 'tcp', port: 8080 }, command: ['/bin/true'], user: 'agent', workdir: '/home/agent', env: { A: '1', B: '2' }, expectedEnv: [],
  },
};
const inputs: HashInputs = { runtimeHash: 'r1', builderHash: 'b1', fileHashes: {} };

describe('recipe hashing', () => {
  it('is stable and ignores key order and package order / duplicates', () => {
    const h = recipeHash(recipe, inputs);
    assert.match(h, /^[0-9a-f]{16}$/);
    assert.equal(recipeHash(structuredClone(recipe), inputs), h);
    const reordered = Object.fromEntries(Object.entries(structuredClone(recipe)).reverse()) as unknown as ImageRecipe;
    reordered.manifest = { ...recipe.manifest, env: { B: '2', A: '1' } };
    assert.notEqual(Object.keys(reordered)[0], Object.keys(recipe)[0]);
    reordered.debs = ['curl', 'git', 'git'];
    assert.equal(recipeHash(reordered, inputs), h);
    // a base package listed explicitly is the same package set
    assert.equal(recipeHash({ ...recipe, debs: [...recipe.debs, 'procps'] }, inputs), h);
  });

  it('changes with every input that changes the image', () => {
    const h = recipeHash(recipe, inputs);
    const variants: [string, string][] = [
      ['deb', recipeHash({ ...recipe, debs: [...recipe.debs, 'python3'] }, inputs)],
      ['npm pin', recipeHash({ ...recipe, npmGlobal: ['typescript@5.9.2'] }, inputs)],
      ['file', recipeHash({ ...recipe, files: [{ path: '/etc/demo.conf', content: 'a=2\n' }] }, inputs)],
      ['step', recipeHash({ ...recipe, customize: ['echo ho > /etc/hi'] }, inputs)],
      ['manifest', recipeHash({ ...recipe, manifest: { ...recipe.manifest, minMemoryMib: 256 } }, inputs)],
      ['suite', recipeHash({ ...recipe, suite: 'trixie' }, inputs)],
      ['runtime', recipeHash(recipe, { ...inputs, runtimeHash: 'r2' })],
      ['builder', recipeHash(recipe, { ...inputs, builderHash: 'b2' })],
      ['version', recipeHash({ ...recipe, version: '1.0.1' }, inputs)],
    ];
    for (const [what, v] of variants) assert.notEqual(v, h, `${what} must change the hash`);
    assert.equal(new Set(variants.map((v) => v[1])).size, variants.length);
  });

  it('hashes the bytes of files taken from the host, not their path', () => {
    const withFile: ImageRecipe = { ...recipe, files: [{ path: '/etc/x', from: '/some/host/file' }] };
    const a = recipeHash(withFile, { ...inputs, fileHashes: { '/some/host/file': 'aaa' } });
    const b = recipeHash(withFile, { ...inputs, fileHashes: { '/some/host/file': 'bbb' } });
    assert.notEqual(a, b);
    assert.throws(() => recipeHash(withFile, inputs), /no hash/);
  });

  it('full package set always includes the base packages, sorted', () => {
    assert.deepEqual(recipeDebs(recipe), ['ca-certificates', 'curl', 'git', 'iproute2', 'procps']);
  });

  it('hash parts are length-prefixed and JSON canonical', () => {
    assert.notEqual(hashParts('ab', 'c'), hashParts('a', 'bc'));
    assert.equal(canonicalJson({ b: 1, a: [2, { d: 1, c: 2 }] }), '{"a":[2,{"c":2,"d":1}],"b":1}');
  });

  it('rejects unpinned npm packages, bad names, relative file paths', () => {
    assert.doesNotThrow(() => checkRecipe(recipe));
    assert.throws(() => checkRecipe({ ...recipe, npmGlobal: ['typescript'] }), /pinned/);
    assert.throws(() => checkRecipe({ ...recipe, npmGlobal: ['typescript@^5'] }), /pinned/);
    assert.throws(() => checkRecipe({ ...recipe, name: 'Bad Name' }), /image name/);
    assert.throws(() => checkRecipe({ ...recipe, debs: ['git; rm -rf /'] }), /Debian package/);
    assert.throws(() => checkRecipe({ ...recipe, files: [{ path: 'etc/x', content: '' }] }), /absolute/);
    assert.throws(() => checkRecipe({ ...recipe, files: [{ path: '/etc/x' }] }), /exactly one/);
  });
});
