/**
 * A real Shuyu deployment for the console tests: startServer (temp data dir, free port, the real
 * forked enclave and job worker), seeded only through the SDK — organisations and users (operator),
 * sealed and uploaded demo datasets with offers (owners), a certified reviewer key, a funded buyer and
 * the three demo trades (cli/demo/scenario.ts): two waiting for review, one denied
 * by the negative list.
 */
import { join } from 'node:path';
import type { RunningServer } from '../../server/start.js';
import { OperatorClient, reviewerCertificateFor } from '../../client-sdk/sdk/operator.js';
import { OwnerClient } from '../../client-sdk/sdk/owner.js';
import { BuyerClient } from '../../client-sdk/sdk/buyer.js';
import { ReviewerClient } from '../../client-sdk/sdk/reviewer.js';
import type { Offer, Trade, User } from '../../client-sdk/sdk/types.js';
import { sealTargetOf } from '../../client-sdk/sdk/local-data.js';
import { sealDataset } from '../../client-sdk/dataset/seal.js';
import { HeEvaluator } from '../../he/evaluate.js';
import { demoDataset, writeDemoCsv } from '../../cli/demo/data.js';
import { DEMO_TRADES, type DemoTrade } from '../../cli/demo/scenario.js';
import { sm2KeyPair, sm2PrivateKeyFromPem, sm2PrivateKeyToPem, sm2PublicKeyToPem } from '../../crypto/index.js';
import { consoleServer } from './deployment.js';

export interface Person {
  user: User;
  token: string;
}

export interface Seeded {
  srv: RunningServer;
  url: string;
  dir: string;
  logs: string[];
  operator: { token: string; privateKeyPem: string };
  /** a second reviewer whose key is registered but not yet certified */
  newReviewer: Person;
  reviewer: Person & { privateKeyPem: string };
  buyer: Person;
  /** the buyer of the demo's denied trade: an organisation on the negative list's entity list */
  listedBuyer: Person;
  owner: Person;
  /** the demo trades by expected outcome */
  trades: Record<DemoTrade['expected'], Trade>;
  close(): Promise<void>;
}

/** Rows sealed per demo dataset: only the delivered trade's dataset is computed on, the others stay small (sealing is the slow part). */
const ROWS: Record<DemoTrade['dataset'], number> = { tourism: 240, health: 30, logistics: 30 };

export async function seed(): Promise<Seeded> {
  const t0 = performance.now();
  const lap = (what: string) => process.env.SHUYU_CONSOLE_TIMING && console.log(`seed: ${what} at ${Math.round(performance.now() - t0)} ms`);
  const { srv, dir, logs, boot, close } = await consoleServer('console');
  lap('server started');
  try {
    const url = srv.url;
    const op = new OperatorClient({ url, token: boot.token });

    const person = async (orgName: string, name: string, role: User['role']): Promise<Person> => {
      const org = await op.createOrg({ name: orgName, region: 'CN' });
      const r = await op.createUser({ orgId: org.id, name, role });
      return { user: r.user, token: r.token.token };
    };
    const [tourismOwner, healthOwner, logisticsOwner, buyer, reviewerP, newReviewer] = await Promise.all([
      person(DEMO_TRADES[0]!.owner, '李文旅', 'owner'),
      person(DEMO_TRADES[1]!.owner, '王卫健', 'owner'),
      person(DEMO_TRADES[2]!.owner, '赵物流', 'owner'),
      person('滇中旅游规划研究院 Central Yunnan Tourism Planning Institute', '张规划', 'buyer'),
      person('数据交易合规审查中心 Data Trade Compliance Office', '陈审查', 'reviewer'),
      person('第三方合规评估所 Independent Compliance Assessors', '刘审查', 'reviewer'),
    ]);
    await new ReviewerClient({ url, token: newReviewer.token }).registerKey(sm2PublicKeyToPem(sm2KeyPair().publicKey));

    // The reviewer's SM2 key: the public half registered and certified by the operator; the private PEM
    // is what the reviewer loads into the page.
    const kp = sm2KeyPair();
    const reviewerClient = new ReviewerClient({ url, token: reviewerP.token });
    await reviewerClient.registerKey(sm2PublicKeyToPem(kp.publicKey));
    const reviewerUser = (await reviewerClient.me()).user;
    await op.submitCertificate(reviewerUser.id, reviewerCertificateFor(reviewerUser, sm2PrivateKeyFromPem(boot.privateKeyPem)));

    // Owner-side sealing (sealDataset, as OwnerClient.seal does) with ONE warm HE worker pool for the
    // three datasets: starting a pool per dataset costs more than the sealing itself.
    const owners = { tourism: tourismOwner, health: healthOwner, logistics: logisticsOwner };
    const target = sealTargetOf(await new OwnerClient({ url, token: tourismOwner.token }).enclave());
    const evaluator = new HeEvaluator({ threads: 2 });
    lap('enclave info fetched, pool created');
    const offers: Offer[] = [];
    try {
      for (const t of DEMO_TRADES) {
        const ds = demoDataset(t.dataset);
        const owner = new OwnerClient({ url, token: owners[t.dataset].token });
        const csv = join(dir, `${t.dataset}.csv`);
        await writeDemoCsv(csv, ds, ROWS[t.dataset]);
        await sealDataset({ input: csv, schema: ds.schema, enclave: target, outDir: join(dir, `${t.dataset}.bundle`), evaluator });
        lap(`${t.dataset} sealed`);
        const { dataset } = await owner.uploadDir(join(dir, `${t.dataset}.bundle`), {
          title: ds.title,
          description: ds.description,
          keywords: [t.dataset, ...t.offer.allowedColumns.slice(0, 2)],
        });
        lap(`${t.dataset} uploaded`);
        offers.push((await owner.createOffer(dataset.id, t.offer)).offer);
      }
    } finally {
      await evaluator.close();
    }

    lap('datasets sealed, uploaded, offered');
    const listedName = DEMO_TRADES.find((t) => t.expected === 'denied-by-negative-list')!.buyer;
    const listedBuyer = await person(listedName, '黑名单买方', 'buyer');
    await op.topUp(buyer.user.orgId, 5_000_000, { memo: '测试充值 test top-up' });
    await op.topUp(listedBuyer.user.orgId, 5_000_000, { memo: '测试充值 test top-up' });
    const b = new BuyerClient({ url, token: buyer.token });
    const listed = new BuyerClient({ url, token: listedBuyer.token });
    const trades = {} as Record<DemoTrade['expected'], Trade>;
    for (const [i, t] of DEMO_TRADES.entries()) {
      // an exact release lists every group or none: on 240 generated rows some prefectures hold fewer than k
      // visitors from outside Yunnan (the demo's 20,000 rows hold enough in every one), so group by origin here
      const computation = t.expected === 'delivered' && t.computation.kind === 'aggregate' ? { ...t.computation, groupBy: ['origin'] } : t.computation;
      const { trade } = await (t.expected === 'denied-by-negative-list' ? listed : b).request(offers[i]!.id, {
        computation,
        purpose: t.purpose,
        destination: t.destination,
      });
      trades[t.expected] = trade;
    }
    lap('trades submitted');
    return {
      srv,
      url,
      dir,
      logs,
      operator: { token: boot.token, privateKeyPem: boot.privateKeyPem },
      newReviewer,
      reviewer: { ...reviewerP, user: reviewerUser, privateKeyPem: sm2PrivateKeyToPem(kp.privateKey) },
      buyer,
      listedBuyer,
      owner: tourismOwner,
      trades,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
