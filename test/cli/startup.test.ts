import { Writable } from 'node:stream';
import { expect } from 'chai';
import { Command } from 'commander';
import { GROUPS } from '../../client-sdk/cli/main.js';
import { prettyDestination, prettyLine } from '../../server/log/pretty.js';

/**
 * `shuyu` imports only the command group it runs, so its table of groups must name exactly the top-level
 * commands each module registers, with the descriptions `--help` shows; and the server's terminal log starts
 * with the line that says where it listens and where the console is.
 */

describe('CLI start-up: the lazy group table, the terminal log', () => {
  it("every group's table entry names exactly the commands its module registers, with the same descriptions", async () => {
    const seen = new Set<string>();
    for (const g of [...GROUPS, { commands: { server: 'run a Shuyu server' }, load: () => import('../../server/cli/commands.js') }]) {
      const program = new Command('shuyu');
      (await g.load()).register(program);
      const registered = Object.fromEntries(program.commands.map((c) => [c.name(), c.description()]));
      expect(registered).to.deep.equal(g.commands);
      for (const name of Object.keys(g.commands)) {
        expect(seen.has(name), `${name} in two groups`).to.equal(false);
        seen.add(name);
      }
    }
  });

  it('the terminal log: the listening line first (URL and console), start-up lines after it, fields as key=value', () => {
    let out = '';
    const sink = new Writable({ write: (c, _e, cb) => ((out += c.toString()), cb()) });
    const d = prettyDestination(sink as never);
    d.write('{"level":30,"time":"2026-12-07T04:38:12.169Z","service":"shuyu-server","file":"/data/bootstrap.json","msg":"first run: operator identity created"}\n');
    d.write('{"level":40,"time":"2026-12-07T04:38:13.000Z","msg":"embedded default secret","file":"/data/master secret"}\n');
    expect(out).to.equal('');
    d.write('{"level":30,"time":"2026-12-07T04:38:17.296Z","url":"http://127.0.0.1:8080","console":"http://127.0.0.1:8080/console/","dataDir":"/data","msg":"Shuyu listening on http://127.0.0.1:8080"}\n');
    d.write('{"level":30,"time":"2026-12-07T04:38:18.000Z","msg":"request","status":200}\n');
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).to.equal('Shuyu (数域) listening on http://127.0.0.1:8080 — web console at http://127.0.0.1:8080/console/  (data: /data)');
    expect(lines[1]).to.equal('04:38:12 INFO  first run: operator identity created  file=/data/bootstrap.json');
    expect(lines[2]).to.equal('04:38:13 WARN  embedded default secret  file="/data/master secret"');
    expect(lines[3]).to.equal('04:38:18 INFO  request  status=200');
    expect(prettyLine('not json')).to.equal('not json');
  });
});
