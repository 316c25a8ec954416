/** The Shuyu client SDK: one client per role, typed from the server's schemas, speaking HTTP only. */
export { ShuyuApiError, isShuyuApiError } from './errors.js';
export { HttpClient, type HttpClientOptions } from './http.js';
export { ShuyuClient } from './client.js';
export { OwnerClient } from './owner.js';
export { BuyerClient, FINAL_STATES, type PinnedEnclaveKey, type ReceiptCheck, type TradeRequest, type WaitOptions } from './buyer.js';
export { ReviewerClient } from './reviewer.js';
export { OperatorClient, reviewerCertificateFor } from './operator.js';
export { type BundleSource, type UploadOptions, type UploadProgress, uploadBundle } from './upload.js';
export type { OwnerCheckReport, LocalCheckOptions } from './local-data.js';
export type * from './types.js';
