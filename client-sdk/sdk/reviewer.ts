import { ShuyuClient } from './client.js';

/** The compliance reviewer: the review queue, a trade's details and findings, signed approvals, rejections. */
export class ReviewerClient extends ShuyuClient {}
