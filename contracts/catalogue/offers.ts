import type { Actor, Context, DatasetRef } from '../context.js';
import { columnByName } from '../dataset/schema.js';
import { DomainError } from '../errors.js';
import { newId } from '../ids.js';
import { evaluateListing } from '../policy/evaluate.js';
import { isCataloguedPurpose } from '../policy/purposes.js';
import type { Evaluation } from '../policy/schema.js';
import { parseOrThrow } from '../validate.js';
import { type Offer, OfferInput } from '../offer/offer.js';

/** Listing: create, version and withdraw offers, each screened by the negative list at listing time. */
export class OfferService {
  constructor(private readonly ctx: Context) {}

  /** The negative list's verdict on a listing, deny included; what cannot be listed at all is refused. */
  private async evaluate(dataset: DatasetRef, input: OfferInput): Promise<Evaluation> {
    const missing = input.allowedColumns.filter((c) => !columnByName(dataset.schema, c));
    if (missing.length) throw new DomainError('invalid-offer', `columns not in the dataset: ${missing.join(', ')}`, { columns: missing });
    // purposes are a controlled vocabulary: an offer lists codes of the published catalogue (GET /v1/purposes)
    const unknown = input.terms.purposes.filter((p) => !isCataloguedPurpose(p));
    if (unknown.length) throw new DomainError('invalid-offer', `not purposes of the published catalogue: ${unknown.join(', ')}`, { purposes: unknown });
    // a verification names one record by its identifier; without one it would only say whether a cell is empty
    if (input.allowedKinds.includes('verify') && !dataset.schema.columns.some((c) => c.role === 'identifier')) {
      throw new DomainError('invalid-offer', 'this dataset has no identifier column, so it cannot be offered for verify: a verification checks claims about one record the buyer names by its identifier', { kind: 'verify' });
    }
    return evaluateListing(await this.ctx.policy(), dataset.schema, input);
  }

  private async screen(dataset: DatasetRef, input: OfferInput): Promise<Evaluation> {
    const screening = await this.evaluate(dataset, input);
    if (screening.decision === 'deny') {
      throw new DomainError('negative-list-denied', 'the negative list does not allow this offer', { findings: screening.findings });
    }
    return screening;
  }

  private assertOwner(dataset: DatasetRef, actor: Actor): void {
    if (dataset.ownerOrgId !== actor.orgId) throw new DomainError('forbidden', "only the dataset owner's organisation can list it");
  }

  /** What listing this offer would find, written nowhere: the owner sees every finding, deny included, before listing. */
  async preview(args: { dataset: DatasetRef; input: unknown; actor: Actor }): Promise<Evaluation> {
    this.assertOwner(args.dataset, args.actor);
    return await this.evaluate(args.dataset, parseOrThrow(OfferInput, args.input, 'invalid-offer'));
  }

  /** New offer, version 1. Findings of `review` rules are returned and audited, not blocking. */
  async create(args: { dataset: DatasetRef; input: unknown; actor: Actor }): Promise<{ offer: Offer; screening: Evaluation }> {
    this.assertOwner(args.dataset, args.actor);
    const input = parseOrThrow(OfferInput, args.input, 'invalid-offer');
    const screening = await this.screen(args.dataset, input);
    const offer: Offer = {
      ...input,
      id: newId(),
      version: 1,
      datasetId: args.dataset.id,
      ownerOrgId: args.dataset.ownerOrgId,
      status: 'active',
      createdAt: this.ctx.nowIso(),
      createdBy: args.actor.userId,
    };
    return this.write(offer, 'offer.created', args.actor, screening);
  }

  /** A change is a new version under the same id; trades keep the version they were quoted under. */
  async revise(args: { offerId: string; dataset: DatasetRef; input: unknown; actor: Actor }): Promise<{ offer: Offer; screening: Evaluation }> {
    const current = await this.get(args.offerId);
    this.assertOwner(args.dataset, args.actor);
    if (current.datasetId !== args.dataset.id) throw new DomainError('invalid-offer', 'an offer stays on its dataset');
    if (current.status !== 'active') throw new DomainError('offer-withdrawn', 'a withdrawn offer cannot be revised');
    const input = parseOrThrow(OfferInput, args.input, 'invalid-offer');
    const screening = await this.screen(args.dataset, input);
    const offer: Offer = { ...current, ...input, version: current.version + 1, createdAt: this.ctx.nowIso(), createdBy: args.actor.userId };
    return this.write(offer, 'offer.versioned', args.actor, screening);
  }

  /** Withdrawal writes a final version with status `withdrawn`: no new quotes or submissions. */
  async withdraw(args: { offerId: string; actor: Actor }): Promise<Offer> {
    const current = await this.get(args.offerId);
    if (current.ownerOrgId !== args.actor.orgId) throw new DomainError('forbidden', "only the owner's organisation can withdraw its offer");
    if (current.status === 'withdrawn') return current;
    const offer: Offer = { ...current, status: 'withdrawn', version: current.version + 1, createdAt: this.ctx.nowIso(), createdBy: args.actor.userId };
    return (await this.write(offer, 'offer.withdrawn', args.actor, null)).offer;
  }

  async get(offerId: string, version?: number): Promise<Offer> {
    const offer = await this.ctx.store.offers.get(offerId, version);
    if (!offer) throw new DomainError('not-found', 'no such offer', { offerId, version });
    return offer;
  }

  private async write<S extends Evaluation | null>(offer: Offer, action: string, actor: Actor, screening: S): Promise<{ offer: Offer; screening: S }> {
    await this.ctx.store.transaction(async () => {
      await this.ctx.store.offers.insert(offer);
      await this.ctx.audit.append({
        actor: actor.userId,
        entityType: 'offer',
        entityId: offer.id,
        action,
        data: { version: offer.version, datasetId: offer.datasetId, status: offer.status, findings: screening?.findings.map((f) => f.ruleId) ?? [] },
      });
    });
    return { offer, screening };
  }
}
