import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatYuan, isMessageCode, LANGS, MESSAGES, negotiateLang, render } from '../../formats/messages.js';
import { FAILURE_CODES, FINDING_CODES, LEDGER_MEMO_CODES, TRADE_REASON_CODES } from '../../contracts/reasons.js';
import { TRADE_STATES } from '../../contracts/trade/states.js';

/** Every problem slug the code can answer with: thrown DomainErrors and HttpProblems, problem(), parse refusals, privacy refusal types. */
function problemSlugs(): Set<string> {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) files.push(p);
    }
  };
  for (const d of ['contracts', 'server', 'formats', 'enclave', 'query', 'he']) walk(d);
  const patterns = [
    /(?:new\s+(?:DomainError|HttpProblem)|\bproblem)\(\s*'([a-z][a-z0-9-]+)'/g,
    /parseOrThrow\([^;]*?,\s*'([a-z][a-z0-9-]+)'\)/g,
    /'(privacy-[a-z0-9-]+)'/g,
  ];
  const slugs = new Set<string>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) slugs.add(m[1]!);
  }
  return slugs;
}

const HAN = /[\u4e00-\u9fff]/;

describe('formats/messages: the message catalogue', () => {
  it('has a Chinese and an English template for every code, with the same parameters', () => {
    for (const [code, t] of Object.entries(MESSAGES)) {
      for (const lang of LANGS) expect(t[lang], `${code} ${lang}`).to.be.a('string').and.not.equal('');
      if (!/^(trade|ledger)\.note$/.test(code)) expect(t.zh, code).to.match(HAN);
      const names = (s: string) => [...s.matchAll(/\{([A-Za-z0-9_]+)/g)].map((m) => m[1]).sort();
      // English may say more (the old text) but Chinese never needs a parameter English lacks
      for (const n of names(t.zh)) expect(names(t.en), `${code}: {${n}}`).to.include(n);
    }
  });

  it('has a template for every code a route or contract can emit', () => {
    const slugs = problemSlugs();
    expect(slugs.size).to.be.greaterThan(80);
    for (const slug of slugs) expect(isMessageCode(`problem.${slug}`), `problem.${slug}`).to.equal(true);
    for (const code of [...TRADE_REASON_CODES, ...FAILURE_CODES, ...LEDGER_MEMO_CODES, ...FINDING_CODES]) expect(isMessageCode(code), code).to.equal(true);
    for (const state of TRADE_STATES) expect(isMessageCode(`state.${state}`), state).to.equal(true);
  });

  it('renders a settlement in both languages, fen as yuan in Chinese and as the old text in English', () => {
    const params = { ownerShareFen: 4500, platformFeeFen: 500 };
    expect(render('trade.settled', params, 'en')).to.equal('captured 4500 fen to the owner and 500 fen fee');
    expect(render('trade.settled', params, 'zh')).to.equal('已结算：45.00 元 付给数据方，5.00 元 平台服务费');
    expect(formatYuan(123456789, 'en')).to.equal('¥1,234,567.89');
  });

  it('renders nested codes, bilingual params and lists', () => {
    const zh = render('trade.screened', { policyId: 'shuyu-default', policyVersion: 2, decision: 'deny', rules: ['NL-02', 'NL-05'] }, 'zh');
    expect(zh).to.equal('负面清单 shuyu-default 第 2 版筛查结果：禁止（NL-02、NL-05）');
    const title = { zh: '禁止的用途', en: 'Prohibited purposes' };
    expect(render('negative-list.deny', { ruleId: 'NL-05', title, basis: '§三(三)1' }, 'en')).to.equal('Denied by rule NL-05 “Prohibited purposes”; basis: §三(三)1');
    expect(render('negative-list.deny', { ruleId: 'NL-05', title, basis: '§三(三)1' }, 'zh')).to.contain('「禁止的用途」');
    expect(render('failure.privacy-refused', { type: 'privacy-min-group-refused', chargedFen: 250 }, 'zh')).to.contain('最小分组规模').and.contain('2.50 元');
  });

  it('shows unknown codes as themselves and missing parameters as a dash', () => {
    expect(render('some.future-code', {}, 'zh')).to.equal('some.future-code');
    expect(render('trade.reviewer-approved', {}, 'en')).to.equal('approved by the reviewer: —');
  });

  it('negotiates the language from ?lang and Accept-Language, English by default', () => {
    expect(negotiateLang(undefined, undefined)).to.equal('en');
    expect(negotiateLang('zh-CN,zh;q=0.9,en;q=0.8')).to.equal('zh');
    expect(negotiateLang('zh')).to.equal('zh');
    expect(negotiateLang('en-GB, zh;q=0.5')).to.equal('en');
    expect(negotiateLang('fr, zh;q=0.3')).to.equal('zh');
    expect(negotiateLang('zh', 'en')).to.equal('en');
    expect(negotiateLang(undefined, 'zh')).to.equal('zh');
    expect(negotiateLang('de')).to.equal('en');
  });
});
