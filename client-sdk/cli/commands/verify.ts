import type { Command } from 'commander';
import { sm2PublicKeyFromPem } from '../../../crypto/index.js';
import { verifyReceipt } from '../../../formats/receipt.js';
import { type CommonOptions, readTextFile, withCommon } from '../common.js';
import { EXIT_FAILED, EXIT_OK, UsageError, action, print } from '../output.js';
import { readProfiles, profileName } from '../profiles.js';

/**
 * `shuyu verify RECEIPT.json [--pub PEM]`: offline check of a receipt — no network. The trust anchor is
 * the enclave key given with --pub, else the one pinned in the profile at login; a receipt that is
 * well signed by any other key is invalid (exit 1), as is any changed byte.
 */
export function register(program: Command): void {
  withCommon(
    program
      .command('verify <receipt>')
      .description('verify a receipt offline against the pinned enclave key (exit 0 valid, 1 invalid)')
      .option('--pub <pem>', 'enclave signing public key PEM to check against (instead of the profile pin)'),
  ).action(
    action(async (receiptPath: string, opts: CommonOptions & { pub?: string }) => {
      const text = readTextFile(receiptPath, 'receipt');
      let anchor: { pem: string; source: string };
      if (opts.pub) {
        const pem = readTextFile(opts.pub, 'public key');
        try {
          sm2PublicKeyFromPem(pem);
        } catch {
          throw new UsageError(`public key ${opts.pub} is not an SM2 public key PEM`);
        }
        anchor = { pem, source: opts.pub };
      }
      else {
        const file = readProfiles();
        const name = profileName(opts.profile, process.env, file);
        const pinned = file.profiles[name]?.enclave;
        if (!pinned) {
          throw new UsageError(`no enclave key to check against: pass --pub ENCLAVE.pem, or log in (profile "${name}" has no pinned key)`);
        }
        anchor = { pem: pinned.publicKeyPem, source: `profile ${name} (${pinned.fingerprint.slice(0, 16)}…)` };
      }
      let receipt: unknown;
      try {
        receipt = JSON.parse(text);
      } catch (e) {
        receipt = text; // not JSON at all: verifyReceipt reports it as malformed
      }
      const result = verifyReceipt(receipt, { pinnedPublicKeyPem: anchor.pem });
      if (result.valid) {
        const p = result.payload;
        print(opts, { valid: true, receipt: receiptPath, checkedAgainst: anchor.source, payload: p }, () =>
          [
            `VALID receipt ${String(p.receiptId ?? '')} signed by the enclave key of ${anchor.source}.`,
            p.tradeId ? `  trade ${String(p.tradeId)}, dataset ${String(p.datasetId ?? '')}` : '',
            p.issuedAt ? `  issued ${String(p.issuedAt)}` : '',
          ].filter(Boolean).join('\n'),
        );
        return EXIT_OK;
      }
      print(opts, { valid: false, receipt: receiptPath, checkedAgainst: anchor.source, reason: result.reason }, () => `INVALID receipt ${receiptPath}: ${result.reason}`);
      return EXIT_FAILED;
    }),
  );
}
