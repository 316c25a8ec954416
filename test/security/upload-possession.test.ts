import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  liveServer, liveActor, market, blobsOf, sealTourism, uploadBundle, offerInput, quoteAndSubmit, approve, waitForTrade,
  type Live, type Market, type SealedFixture, releaseLive,
} from '../server/fixture.js';
import type { Actor } from '../server/harness.js';
import { withCommitment } from '../../formats/manifest.js';
import { sm3Hex } from '../../crypto/index.js';

/**
 * Proof of possession: an owner who knows another organisation's bundle manifest (its `--bundle-dir`
 * leaked, or copied) but not the bytes cannot publish it, cannot learn which of its blobs the server
 * holds, and cannot delete them. Only bytes delivered by the upload itself count.
 */
describe('security: uploads prove possession of every blob (real HTTP, real server)', function () {
  this.timeout(120_000);
  let l: Live;
  let a: Market; // owner A: a published, offered dataset
  let b: Actor; // owner B: another organisation
  const OCTET = { 'Content-Type': 'application/octet-stream' };

  before(async () => {
    l = await liveServer();
    a = await market(l, { rows: 30, tag: 'possess' });
    b = await liveActor(l, 'owner');
  });
  after(() => releaseLive());

  const hashesOf = (manifest: Record<string, any>): string[] => manifest.chunks.map((c: { sm3: string }) => c.sm3);
  const blobFile = (hash: string) => join(l.srv.config.dataDir, 'blobs', hash.slice(0, 2), hash.slice(2));
  const create = (who: Actor, manifest: Record<string, any>, title = 'Visitor spending') =>
    l.http().post('/v1/uploads').set(who.auth).send({ title, description: 'same listing', keywords: ['k'], manifest });
  const put = (who: Actor, uploadId: string, hash: string, bytes: Buffer) => l.http().put(`/v1/uploads/${uploadId}/blobs/${hash}`).set(who.auth).set(OCTET).send(bytes);
  const complete = (who: Actor, uploadId: string) => l.http().post(`/v1/uploads/${uploadId}/complete`).set(who.auth).send();

  /** A's manifest with every blob renamed to a hash that exists nowhere (same sizes and kinds), re-committed. */
  function unknownTwin(manifest: Record<string, any>): Record<string, any> {
    const body = structuredClone(manifest);
    delete body.commitment;
    body.chunks = body.chunks.map((c: Record<string, unknown>) => ({ ...c, sm3: randomBytes(32).toString('hex') }));
    return withCommitment(body as Parameters<typeof withCommitment>[0]);
  }

  /** `g`'s manifest with its first row chunk replaced by bytes stored nowhere (not a valid chunk: never completed). */
  function withFreshBlob(g: SealedFixture): { manifest: Record<string, any>; blobs: Map<string, Buffer>; only: string } {
    const body = structuredClone(g.manifest);
    delete body.commitment;
    const idx = body.chunks.findIndex((c: { kind: string }) => c.kind === 'rows');
    const bytes = randomBytes(body.chunks[idx].size);
    body.chunks[idx] = { ...body.chunks[idx], sm3: sm3Hex(bytes) };
    const blobs = new Map(blobsOf(g).map((x) => [x.hash, x.bytes]));
    blobs.delete(g.manifest.chunks[idx].sm3);
    blobs.set(sm3Hex(bytes), bytes);
    return { manifest: withCommitment(body as Parameters<typeof withCommitment>[0]), blobs, only: sm3Hex(bytes) };
  }

  /** An answer with its ids, times and blob names replaced by placeholders (blob names by their place in the manifest). */
  function normalised(res: { status: number; headers: Record<string, string>; text: string }, uploadId: string, manifest: Record<string, any>): string {
    let t = res.text.split(uploadId).join('<upload>');
    hashesOf(manifest).forEach((h, i) => (t = t.split(h).join(`<blob ${i}>`)));
    t = t.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
    return `${res.status} ${res.headers['content-type']}\n${t}`;
  }

  it('a manifest alone: every blob is missing, complete is refused, and nothing tells existing blobs from unknown ones', async () => {
    const known = a.fixture.manifest;
    const twin = unknownTwin(known);
    for (const h of hashesOf(known)) expect(existsSync(blobFile(h)), 'A’s blobs are in the store').to.equal(true);
    for (const h of hashesOf(twin)) expect(existsSync(blobFile(h))).to.equal(false);

    const upKnown = await create(b, known);
    const upTwin = await create(b, twin);
    expect(upKnown.status).to.equal(201);
    expect(upKnown.body.missing).to.deep.equal(hashesOf(known));
    expect(upKnown.body.receivedBytes).to.equal(0);
    expect(upKnown.body.blobs.every((x: { received: boolean }) => !x.received)).to.equal(true);
    const same = (r1: any, r2: any) => expect(normalised(r1, upKnown.body.id, known)).to.equal(normalised(r2, upTwin.body.id, twin));
    same(upKnown, upTwin);

    // the upload's status, a refused completion and a blob with the wrong bytes answer alike too
    same(await l.http().get(`/v1/uploads/${upKnown.body.id}`).set(b.auth), await l.http().get(`/v1/uploads/${upTwin.body.id}`).set(b.auth));
    const doneKnown = await complete(b, upKnown.body.id);
    expect(doneKnown.status).to.equal(409);
    expect(doneKnown.headers['content-type']).to.match(/^application\/problem\+json/);
    expect(doneKnown.body.type).to.match(/upload-incomplete$/);
    same(doneKnown, await complete(b, upTwin.body.id));
    const i = known.chunks.findIndex((c: { size: number }) => c.size === Math.min(...known.chunks.map((x: { size: number }) => x.size)));
    const junk = randomBytes(known.chunks[i].size);
    const badKnown = await put(b, upKnown.body.id, known.chunks[i].sm3, junk);
    expect(badKnown.status).to.equal(422);
    expect(badKnown.body.type).to.match(/blob-hash-mismatch$/);
    same(badKnown, await put(b, upTwin.body.id, twin.chunks[i].sm3, junk));

    // no dataset appeared for B
    expect((await l.http().get('/v1/datasets').set(b.auth)).body.items).to.deep.equal([]);
    for (const u of [upKnown, upTwin]) expect((await l.http().delete(`/v1/uploads/${u.body.id}`).set(b.auth)).status).to.equal(204);
    for (const h of hashesOf(known)) expect(existsSync(blobFile(h)), 'B’s abandoned uploads leave A’s blobs').to.equal(true);
  });

  it('abandoning or expiring an upload that names other organisations’ blobs deletes none of them, B has no way to delete them nor to keep them', async () => {
    // A also has an upload in progress (not yet a dataset) with a blob that only it references
    const fresh = withFreshBlob(a.fixture);
    const upA = await create(a.owner, fresh.manifest, 'In progress');
    const freshBlobs = [...fresh.blobs].map(([hash, bytes]) => ({ hash, bytes }));
    for (const x of freshBlobs) expect((await put(a.owner, upA.body.id, x.hash, x.bytes)).status).to.equal(200);

    // B names both sets, even sends a few of A's published blobs (it has a leaked bundle), then gives up
    const leaked = blobsOf(a.fixture);
    const upB = await create(b, a.fixture.manifest);
    for (const x of leaked.slice(0, 2)) expect((await put(b, upB.body.id, x.hash, x.bytes)).status).to.equal(200);
    const upB2 = await create(b, fresh.manifest);
    expect(upB2.body.missing).to.have.length(freshBlobs.length);
    expect((await l.http().delete(`/v1/uploads/${upB.body.id}`).set(b.auth)).status).to.equal(204);
    expect((await l.http().delete(`/v1/uploads/${upB2.body.id}`).set(b.auth)).status).to.equal(204);
    // what a restart does with unreferenced blob files
    l.srv.app.services.datasets.sweep({ startup: true });
    for (const x of [...leaked, ...freshBlobs]) expect(existsSync(blobFile(x.hash)), x.hash).to.equal(true);

    // B cannot reach A's upload or dataset to delete anything
    const aUpload = ((await l.srv.db.get('SELECT id FROM uploads WHERE dataset_id = ?', a.dataset.id)) as { id: string }).id;
    for (const path of [`/v1/uploads/${aUpload}`, `/v1/uploads/${upA.body.id}`, `/v1/datasets/${a.dataset.id}`]) {
      const r = await l.http().delete(path).set(b.auth);
      expect(r.status, path).to.be.oneOf([404, 405]);
      expect(r.headers['content-type']).to.match(/^application\/problem\+json/);
    }
    expect((await l.http().get(`/v1/uploads/${upA.body.id}`).set(b.auth)).status).to.equal(404);

    // A's upload still holds everything it sent; A's dataset is still traded and delivered, A credited
    const stillA = await l.http().get(`/v1/uploads/${upA.body.id}`).set(a.owner.auth);
    expect(stillA.body.missing).to.deep.equal([]);
    // B names A's unshared blob in an upload it keeps open: naming without sending pins nothing
    const pin = await create(b, fresh.manifest, 'Pinning');
    expect((await l.http().delete(`/v1/uploads/${upA.body.id}`).set(a.owner.auth)).status).to.equal(204);
    expect(existsSync(blobFile(fresh.only)), 'the owner’s own abort collects its unshared blob').to.equal(false);
    l.srv.app.services.datasets.sweep({ startup: true });
    for (const x of leaked) expect(existsSync(blobFile(x.hash)), 'the published blobs stay').to.equal(true);
    expect((await complete(b, pin.body.id)).body.type).to.match(/upload-incomplete$/);
    expect((await l.http().delete(`/v1/uploads/${pin.body.id}`).set(b.auth)).status).to.equal(204);
    await tradeAndCheck(a, a.fixture);
  });

  it('B holding the same bundle bytes must send them itself: then it gets a new dataset with the same commitment', async () => {
    const leaked = blobsOf(a.fixture);
    const inodes = new Map(leaked.map((x) => [x.hash, statSync(blobFile(x.hash)).ino]));
    const up = await create(b, a.fixture.manifest, 'Resold visitors');
    const half = leaked.slice(0, Math.ceil(leaked.length / 2));
    for (const x of half) {
      const r = await put(b, up.body.id, x.hash, x.bytes);
      expect(r.status).to.equal(200);
      expect(r.body.alreadyPresent, 'the store has it; this upload did not').to.equal(false);
    }
    // resuming: the upload lists exactly what it has not delivered itself
    const early = await complete(b, up.body.id);
    expect(early.status).to.equal(409);
    expect(early.body.type).to.match(/upload-incomplete$/);
    const state = await l.http().get(`/v1/uploads/${up.body.id}`).set(b.auth);
    expect([...state.body.missing].sort()).to.deep.equal(leaked.slice(half.length).map((x) => x.hash).sort());
    for (const h of state.body.missing as string[]) expect((await put(b, up.body.id, h, leaked.find((x) => x.hash === h)!.bytes)).status).to.equal(200);
    const again = await put(b, up.body.id, half[0]!.hash, half[0]!.bytes);
    expect(again.body.alreadyPresent, 'sent by this upload before').to.equal(true);
    // the stored files are shared and untouched
    for (const x of leaked) expect(statSync(blobFile(x.hash)).ino).to.equal(inodes.get(x.hash));

    const done = await complete(b, up.body.id);
    expect(done.status, JSON.stringify(done.body)).to.equal(201);
    expect(done.body.id).to.not.equal(a.dataset.id);
    expect(done.body.orgId).to.equal(b.orgId);
    expect(done.body.commitment).to.equal(a.dataset.commitment);
  });

  it('same bundle, same history: B’s listing shares the enclave’s privacy state of A’s (one ε budget per buyer and commitment)', async () => {
    const mine = (await l.http().get('/v1/datasets').set(b.auth)).body.items.find((d: { commitment: string }) => d.commitment === a.dataset.commitment);
    expect(mine, 'B’s dataset of the same bundle').to.exist;
    // an exact trade on B's listing is delivered with A's figures, B credited
    const o = await l.http().post(`/v1/datasets/${mine.id}/offers`).set(b.auth).send(offerInput());
    expect(o.status, JSON.stringify(o.body)).to.equal(201);
    const trade = await tradeAndCheck({ ...a, owner: b, dataset: mine, offer: o.body.offer }, a.fixture);
    expect(trade.datasetCommitment).to.equal(a.dataset.commitment);

    // a buyer spends its whole ε on A's listing; the same bundle under B's listing has nothing left for it
    const dpTerms = { ...(offerInput().terms as object), epsilonPerQuery: 1, epsilonBudgetPerBuyer: 1 };
    const dpOffer = async (owner: Actor, datasetId: string) => {
      const r = await l.http().post(`/v1/datasets/${datasetId}/offers`).set(owner.auth).send(offerInput({ title: 'Visitors (DP)', terms: dpTerms }));
      expect(r.status, JSON.stringify(r.body)).to.equal(201);
      return r.body.offer;
    };
    const count = { kind: 'aggregate', metrics: [{ op: 'count' }], groupBy: ['region'], filters: [] };
    const onA = { ...a, offer: await dpOffer(a.owner, a.dataset.id) };
    const onB = { ...a, owner: b, dataset: mine, offer: await dpOffer(b, mine.id) };
    expect(await dpTrade(onA, count)).to.equal('settled');
    const second = await dpTrade(onB, count);
    expect(second, 'B’s listing must not reset the budget').to.not.equal('settled');
    expect(second).to.match(/privacy-budget-exhausted|privacy budget spent/);
  });

  it('same bundle, same differencing history: a release on B’s listing that differences one on A’s is refused', async () => {
    // a bundle of A's with no releases yet; B sends the same bytes itself and lists them too
    // 20 visitors in Kunming, 5 in Dali, 20 in Lijiang
    const g = await sealTourism(l, 45, 'diff', (i) => (i < 20 ? 'Kunming' : i < 25 ? 'Dali' : 'Lijiang'));
    const dsA = await uploadBundle(l, a.owner, g, 'Visitors, second bundle');
    const up = await create(b, g.manifest, 'Resold visitors, second bundle');
    for (const x of blobsOf(g)) expect((await put(b, up.body.id, x.hash, x.bytes)).status).to.equal(200);
    const mine = (await complete(b, up.body.id)).body;
    expect(mine.commitment).to.equal(dsA.commitment);
    // k = 10: Kunming with Dali and Dali with Lijiang each pass alone; together they single out Dali's 5
    const exactTerms = { ...(offerInput().terms as object), minGroupSize: 10 };
    const exactOffer = async (owner: Actor, datasetId: string) => {
      const r = await l.http().post(`/v1/datasets/${datasetId}/offers`).set(owner.auth).send(offerInput({ title: 'Visitors (k = 15)', terms: exactTerms }));
      expect(r.status, JSON.stringify(r.body)).to.equal(201);
      return r.body.offer;
    };
    const onA = { ...a, dataset: dsA, offer: await exactOffer(a.owner, dsA.id) };
    const onB = { ...a, owner: b, dataset: mine, offer: await exactOffer(b, mine.id) };
    const count = (regions: string) => ({ kind: 'sql', query: `SELECT COUNT(*) AS n FROM dataset WHERE region IN (${regions})` });
    const first = await dpTrade(onA, count("'Kunming', 'Dali'"));
    const rest = await dpTrade(onB, count("'Dali', 'Lijiang'"));
    console.log(`      one bundle listed by A and by B: Kunming+Dali on A's listing ${first}; Dali+Lijiang on B's ${rest.slice(0, 90)}`);
    expect(first).to.equal('settled');
    expect(rest, 'B’s listing must not start a fresh differencing history').to.match(/combined with the earlier exact releases on this dataset/);
  });

  /** A trade through review: 'settled', or where and why it was refused. */
  async function dpTrade(m: Market, computation: Record<string, unknown>): Promise<string> {
    const { trade, status } = await quoteAndSubmit(l, m, { computation }).catch((e: Error): { trade: Record<string, any>; status: number } => ({ trade: { error: e.message }, status: 0 }));
    if (status !== 201) return `refused at quote or submit: ${JSON.stringify(trade)}`;
    if (trade.state !== 'under_review') return `screened out: ${JSON.stringify(trade)}`;
    expect((await approve(l, m, trade.id)).status).to.equal(200);
    const done = await waitForTrade(l, m.buyer.auth, trade.id, ['settled', 'failed']);
    return done.state === 'settled' ? 'settled' : `failed: ${JSON.stringify(done.job ?? done)}`;
  }

  /** One approved aggregate trade on `m`'s offer: delivered with the fixture's figures, its owner credited. */
  async function tradeAndCheck(m: Market, f: SealedFixture): Promise<Record<string, any>> {
    const wallet = async () => (await l.http().get('/v1/ledger/wallet').set(m.owner.auth)).body.revenueFen as number;
    const revenue = await wallet();
    const { trade, status } = await quoteAndSubmit(l, m);
    expect(status, JSON.stringify(trade)).to.equal(201);
    expect((await approve(l, m, trade.id)).status).to.equal(200);
    const done = await waitForTrade(l, m.buyer.auth, trade.id, ['settled', 'failed']);
    expect(done.state, JSON.stringify(done)).to.equal('settled');
    const res = await l.http().get(`/v1/trades/${trade.id}/result`).set(m.buyer.auth);
    for (const region of ['Kunming', 'Dali', 'Lijiang']) {
      const g = res.body.result.groups.find((x: { key: string[] }) => x.key[0] === region);
      expect(g.values.count, region).to.equal(f.rows.filter((r) => r[1] === region).length);
    }
    expect(await wallet()).to.be.greaterThan(revenue);
    return done;
  }
});
