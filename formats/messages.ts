/**
 * The one message catalogue of Shuyu, shared by the server and the browser console: every reason the
 * platform tells people (trade timeline steps, failure reasons, ledger statement memos, negative-list
 * findings, problem+json errors) is a stable `code` with `params`, and this table holds its Chinese and
 * English wording. The English text the API sent before stays beside the code for older clients.
 * Pure data and string work: importable anywhere, the browser included.
 *
 * Templates: `{name}` inserts params.name. A param that is `{ zh, en }` inserts the side of the language;
 * an array is joined (、 in Chinese, ", " in English). Formats: `{name:yuan}` shows fen as yuan,
 * `{name:msg=prefix.}` renders the catalogue entry `prefix.<value>` (e.g. a decision or a refusal type).
 */

import type { FailureCode, FindingCode, LedgerMemoCode, ReasonParam, TradeReasonCode } from '../contracts/reasons.js';

export type { FailureCode, FindingCode, LedgerMemoCode, TradeReasonCode } from '../contracts/reasons.js';

export type Lang = 'zh' | 'en';
export const LANGS: readonly Lang[] = ['zh', 'en'];

export type ParamValue = ReasonParam;
export type MessageParams = Record<string, ParamValue | undefined>;

interface Template {
  zh: string;
  en: string;
}

/** Titles of problem+json answers, by HTTP status. */
const STATUS = {
  'status.400': { zh: '请求有误', en: 'Bad request' },
  'status.401': { zh: '需要身份认证', en: 'Authentication required' },
  'status.403': { zh: '无权操作', en: 'Forbidden' },
  'status.404': { zh: '未找到', en: 'Not found' },
  'status.405': { zh: '不支持该方法', en: 'Method not allowed' },
  'status.409': { zh: '状态冲突', en: 'Conflict' },
  'status.413': { zh: '请求体过大', en: 'Payload too large' },
  'status.415': { zh: '不支持的内容类型', en: 'Unsupported media type' },
  'status.422': { zh: '无法处理的请求', en: 'Unprocessable content' },
  'status.429': { zh: '请求过于频繁', en: 'Too many requests' },
  'status.500': { zh: '内部错误', en: 'Internal error' },
  'status.502': { zh: '网关错误', en: 'Bad gateway' },
  'status.503': { zh: '服务暂不可用', en: 'Service unavailable' },
} as const satisfies Record<string, Template>;

/**
 * problem+json details by problem type (the slug after https://shuyu.local/problems/). The English side is a
 * generic sentence; the API's own English `detail` is usually more specific and is kept as it is.
 */
const PROBLEMS = {
  // request shape
  'problem.malformed-json': { zh: '请求体不是合法的 JSON。', en: 'The request body is not valid JSON.' },
  'problem.malformed-url': { zh: '请求地址格式有误。', en: 'The request URL is malformed.' },
  'problem.validation-failed': { zh: '请求内容未通过校验，请按 errors 中列出的字段修改。', en: 'The request failed validation; fix the fields listed in errors.' },
  'problem.missing-idempotency-key': { zh: '该请求会动用资金或隐私预算：请发送 Idempotency-Key 请求头，重试时使用同一个键。', en: 'This request moves money or privacy budget: send an Idempotency-Key header and reuse it when you retry.' },
  'problem.bad-blob-hash': { zh: '数据块哈希格式有误（应为 64 位小写十六进制 SM3 摘要）。', en: 'The blob hash is malformed (64 lower-case hex characters of SM3).' },
  'problem.malformed-request': { zh: '请求行或请求头格式有误（请求头不得含控制字符）。', en: 'The request line or a header is malformed.' },
  'problem.headers-too-large': { zh: '请求头超过大小上限。', en: 'The request headers are larger than allowed.' },
  'problem.client-timeout': { zh: '请求未能及时送达，请重试。', en: 'The request did not arrive in time; retry.' },
  'problem.unsupported-media-type': { zh: '不支持该内容类型。', en: 'This content type is not supported.' },
  'problem.payload-too-large': { zh: '请求体超过大小上限。', en: 'The request body is larger than allowed.' },
  'problem.upload-interrupted': { zh: '上传中断，请重新发送该数据块。', en: 'The upload was interrupted; send the blob again.' },
  'problem.invalid-request': { zh: '请求内容不符合要求。', en: 'The request is not acceptable.' },
  'problem.invalid-offer': { zh: '报价单（上架条款）内容有误。', en: 'The offer is not valid.' },
  'problem.invalid-policy': { zh: '负面清单文档内容有误。', en: 'The negative-list document is not valid.' },
  'problem.invalid-review': { zh: '审核决定内容有误。', en: 'The review decision is not valid.' },
  'problem.invalid-computation': { zh: '计算请求有误（例如引用了不存在的列）。', en: 'The computation is not valid (e.g. it names unknown columns).' },
  'problem.computation-invalid': { zh: '计算请求有误。', en: 'The computation is not valid.' },
  'problem.invalid-clamp': { zh: '截断范围设置有误。', en: 'The clamp bounds are not valid.' },
  'problem.invalid-epsilon': { zh: '隐私参数 ε 设置有误。', en: 'The privacy parameter ε is not valid.' },
  'problem.invalid-amount': { zh: '金额必须是正整数（单位：分）。', en: 'Amounts are positive whole numbers of fen.' },
  'problem.invalid-idempotency-key': { zh: '幂等键须为 1–200 个字符。', en: 'An idempotency key of 1–200 characters is required.' },
  'problem.invalid-price-basis': { zh: '定价依据有误。', en: 'The price basis is not valid.' },
  'problem.schema-invalid': { zh: '数据集结构描述有误。', en: 'The dataset schema is not valid.' },
  // authentication and authorisation
  'problem.unauthenticated': { zh: '请先登录（发送有效的访问令牌）。', en: 'Send a valid access token.' },
  'problem.token-expired': { zh: '访问令牌已过期。', en: 'The access token has expired.' },
  'problem.token-revoked': { zh: '访问令牌已被吊销。', en: 'The access token has been revoked.' },
  'problem.forbidden': { zh: '当前角色无权执行此操作。', en: 'Your role may not do this.' },
  'problem.separation-of-duties': { zh: '职责分离：不能审核与本机构有关的交易。', en: 'Separation of duties: you may not decide a trade your organisation is party to.' },
  'problem.not-found': { zh: '未找到该对象，或您无权查看。', en: 'No such object, or it is not visible to you.' },
  'problem.route-not-found': { zh: '没有这个接口。', en: 'There is no such endpoint.' },
  'problem.method-not-allowed': { zh: '该接口不支持此方法。', en: 'This endpoint does not support the method.' },
  'problem.blob-not-found': { zh: '未找到该数据块。', en: 'No such blob.' },
  'problem.key-not-registered': { zh: '尚未登记 SM2 公钥。', en: 'No SM2 public key is registered.' },
  'problem.invalid-certificate': { zh: '审核员证书无效。', en: 'The reviewer certificate is not valid.' },
  // state and conflicts
  'problem.conflict': { zh: '对象已被他人修改，请刷新后重试。', en: 'It changed meanwhile; reload it and retry.' },
  'problem.already-exists': { zh: '该对象已存在。', en: 'It already exists.' },
  'problem.idempotency-key-reused': { zh: '该幂等键已用于另一个请求，新请求请使用新的键。', en: 'This Idempotency-Key was used for a different request; use a new key.' },
  'problem.idempotency-in-progress': { zh: '使用该幂等键的请求仍在处理中，请稍后重试。', en: 'A request with this Idempotency-Key is still being processed; retry shortly.' },
  'problem.idempotency-conflict': { zh: '该幂等键已用于另一笔账务。', en: 'This idempotency key was already used for a different posting.' },
  'problem.illegal-transition': { zh: '交易当前状态不允许此操作。', en: 'The trade’s state does not allow this step.' },
  'problem.trade-expired': { zh: '交易已过期。', en: 'The trade has expired.' },
  'problem.result-not-ready': { zh: '结果尚未生成。', en: 'The result is not ready yet.' },
  'problem.upload-not-open': { zh: '该上传已结束，不能再发送数据块。', en: 'The upload is no longer open.' },
  'problem.upload-incomplete': { zh: '上传尚未收齐全部数据块。', en: 'The upload still misses blobs.' },
  'problem.blob-not-in-manifest': { zh: '该数据块不在清单中。', en: 'The blob is not in the manifest.' },
  'problem.blob-hash-mismatch': { zh: '数据块内容与其 SM3 摘要不符。', en: 'The blob does not match its SM3 digest.' },
  'problem.blob-size-mismatch': { zh: '数据块大小与清单不符。', en: 'The blob size differs from the manifest.' },
  'problem.bundle-invalid': { zh: '密封数据包无效。', en: 'The sealed bundle is not valid.' },
  'problem.row-chunk-invalid': { zh: '密封数据块未通过认证。', en: 'A sealed row chunk failed authentication.' },
  'problem.row-chunk-missing': { zh: '安全计算环境中找不到密封数据块。', en: 'A sealed row chunk is missing from the enclave’s blob store.' },
  'problem.blob-name-invalid': { zh: '数据块名称必须是 SM3 摘要（64 位小写十六进制）。', en: 'A blob name must be an SM3 digest (64 lower-case hex digits).' },
  'problem.blob-store-unavailable': { zh: '安全计算环境无法读取数据块存储。', en: 'The enclave cannot read its blob store.' },
  'problem.row-map-failed': { zh: '无法建立个人行映射。', en: 'The per-person row map could not be built.' },
  'problem.dataset-changed': { zh: '数据集已更新，请重新询价。', en: 'The dataset changed; ask for a new quote.' },
  'problem.dataset-missing': { zh: '数据集不存在。', en: 'The dataset does not exist.' },
  // offers, quotes, trades
  'problem.offer-withdrawn': { zh: '该报价单已下架。', en: 'This offer has been withdrawn.' },
  'problem.offer-not-valid': { zh: '报价单不在有效期内（{validFrom} 至 {validUntil}）。', en: 'The offer is outside its validity window ({validFrom} to {validUntil}).' },
  'problem.computation-not-offered': { zh: '报价单不提供此类计算或这些列。', en: 'The offer does not sell this computation or these columns.' },
  'problem.purpose-not-permitted': { zh: '报价单不允许此用途：{purpose}。', en: 'The offer does not permit the purpose {purpose}.' },
  'problem.destination-not-permitted': { zh: '报价单不允许将结果带往该地区。', en: 'The offer does not permit results to go to this region.' },
  'problem.quota-exhausted': { zh: '本报价单的查询次数已用完（{used}/{quota}）。', en: 'The offer’s queries per buyer are used up ({used}/{quota}).' },
  'problem.invalid-quote': { zh: '询价单无效或签名不符。', en: 'The quote is malformed or its signature does not verify.' },
  'problem.quote-invalid': { zh: '询价单无效。', en: 'The quote is not valid.' },
  'problem.quote-expired': { zh: '询价单已过期，请重新询价。', en: 'The quote has expired; ask for a new one.' },
  'problem.quote-mismatch': { zh: '提交的计算或数据集与询价单不符。', en: 'The computation or dataset differs from the quoted one.' },
  'problem.computation-hash-mismatch': { zh: '计算内容与其摘要不符。', en: 'The computation does not match its digest.' },
  'problem.price-overflow': { zh: '价格超出可表示的范围。', en: 'The price is out of range.' },
  'problem.insufficient-funds': { zh: '余额不足。', en: 'Insufficient funds.' },
  'problem.amount-overflow': { zh: '余额超出可表示的范围。', en: 'The balance is out of range.' },
  'problem.invalid-approval': { zh: '审批声明无效（签名、证书或条款不符）。', en: 'The approval is not valid (signature, certificate or terms).' },
  'problem.approval-invalid': { zh: '审批声明无效。', en: 'The approval is not valid.' },
  'problem.approval-validity-too-long': { zh: '审批有效期超过上限。', en: 'The approval is valid for longer than allowed.' },
  'problem.policy-denied': { zh: '负面清单禁止该交易。', en: 'The negative list denies this.' },
  'problem.negative-list-denied': { zh: '负面清单不允许此项，原因见各条规则的结论（findings）。', en: 'The negative list does not allow this; its findings say why.' },
  'problem.budget-exhausted': { zh: '隐私预算已用完。', en: 'The privacy budget is used up.' },
  // computations refused before or while running
  'problem.sql-refused': { zh: 'SQL 查询不符合受限语言的要求。', en: 'The SQL query is outside the restricted language.' },
  'problem.sql-resource-limit': { zh: 'SQL 查询超出资源限制。', en: 'The SQL query exceeded a resource limit.' },
  'problem.sql-timeout': { zh: 'SQL 查询超时。', en: 'The SQL query timed out.' },
  'problem.sql-execution-failed': { zh: 'SQL 查询执行失败。', en: 'The SQL query failed to run.' },
  'problem.sql-sandbox-failed': { zh: 'SQL 沙箱出错。', en: 'The SQL sandbox failed.' },
  'problem.sql-share-unsupported': { zh: '该查询无法分片到多个安全计算环境执行。', en: 'The query cannot be split across enclaves.' },
  'problem.sql-share-invalid': { zh: '分片任务并非由本集群的安全计算环境封装。', en: 'A share of the run was not sealed by an enclave of this cluster.' },
  'problem.verify-refused': { zh: '核验请求被拒绝。', en: 'The verification was refused.' },
  'problem.verify-rate-limited': { zh: '核验请求过于频繁。', en: 'Too many verifications.' },
  'problem.release-refused': { zh: '结果发布被拒绝。', en: 'The release was refused.' },
  'problem.release-invalid': { zh: '结果发布请求无效。', en: 'The release request is not valid.' },
  'problem.dp-domain-too-large': { zh: '差分隐私的取值域过大。', en: 'The DP domain is too large.' },
  'problem.he-params': { zh: '同态加密参数不符。', en: 'The HE parameters do not match.' },
  'problem.he-overflow': { zh: '同态加密计算会溢出。', en: 'The HE computation would overflow.' },
  'problem.he-internal': { zh: '同态加密计算出错。', en: 'The HE computation failed.' },
  'problem.he-unsupported-layout': { zh: '不支持该同态加密布局。', en: 'This HE layout is not supported.' },
  'problem.he-ciphertext-invalid': { zh: '同态密文不是数据包密封时的那一份。', en: 'An HE ciphertext is not the one the bundle sealed.' },
  'problem.privacy-refused': { zh: '出于隐私保护拒绝发布结果。', en: 'Refused for privacy.' },
  'problem.privacy-differencing-refused': { zh: '与您之前获得的结果相减可推出个别人的数据（差分攻击防护），拒绝发布。', en: 'Subtracting it from your earlier results would single out people (differencing guard); refused.' },
  'problem.privacy-min-group-refused': { zh: '有分组人数少于最小分组规模，拒绝发布。', en: 'A group is smaller than the minimum group size; refused.' },
  'problem.privacy-all-withheld': { zh: '所有分组都因人数过少被隐去，没有可发布的结果。', en: 'Every group was withheld as too small; nothing to release.' },
  'problem.privacy-budget-exhausted': { zh: '隐私预算（ε）已用完。', en: 'The privacy budget (ε) is used up.' },
  'problem.privacy-refusal-allowance-exhausted': { zh: '隐私拒绝次数已用完，不再发布精确结果。', en: 'The allowance of privacy refusals is used up; no further exact releases.' },
  'problem.privacy-contribution-unbounded': { zh: '有个人贡献的行数超过上限，拒绝发布。', en: 'A person contributes more rows than the cap; refused.' },
  'problem.privacy-execution-refused': { zh: '计算在执行中因隐私原因被拒绝。', en: 'The computation was refused for privacy while running.' },
  'problem.privacy-order-statistic-needs-dp': { zh: '中位数等次序统计量只能以差分隐私方式发布。', en: 'Order statistics such as medians are released only with differential privacy.' },
  'problem.privacy-missing-bounds': { zh: '差分隐私计算需要取值范围（截断上下限）。', en: 'A DP computation needs value bounds (clamp).' },
  'problem.privacy-unsupported-output': { zh: '该输出无法以隐私安全的方式发布。', en: 'This output cannot be released privately.' },
  'problem.privacy-invalid-domain': { zh: '差分隐私的取值域有误。', en: 'The DP domain is not valid.' },
  'problem.privacy-invalid-parameter': { zh: '隐私参数有误。', en: 'A privacy parameter is not valid.' },
  'problem.privacy-invalid-policy': { zh: '隐私条款有误。', en: 'The privacy terms are not valid.' },
  'problem.privacy-history-too-complex': { zh: '历史发布记录过于复杂，无法检查差分风险。', en: 'The release history is too complex to check for differencing.' },
  'problem.privacy-differencing-state': { zh: '差分防护状态不可用。', en: 'The differencing guard’s state is unavailable.' },
  'problem.privacy-charge-conflict': { zh: '隐私计费记录冲突。', en: 'The privacy charge record conflicts.' },
  'problem.privacy-row-cap-conflict': {
    zh: '该数据集版本的精确发布已按另一个每人行数上限进行；请使用相同上限或差分隐私发布。',
    en: 'Exact releases on this dataset version already use another per-person row cap; use the same cap or a differentially private release.',
  },
  'problem.privacy-row-map-missing': { zh: '缺少个人行映射。', en: 'The per-person row map is missing.' },
  'problem.privacy-row-map-mismatch': { zh: '个人行映射与数据集不符。', en: 'The per-person row map does not match the dataset.' },
  'problem.privacy-internal': { zh: '隐私模块内部错误。', en: 'The privacy module failed.' },
  'problem.execution-failed': { zh: '计算执行失败。', en: 'The computation failed to run.' },
  // the platform
  'problem.rate-limited': { zh: '请求过于频繁，请稍后再试。', en: 'Too many requests; retry later.' },
  'problem.request-timeout': { zh: '请求处理超时。', en: 'The request timed out.' },
  'problem.enclave-unavailable': { zh: '安全计算环境暂不可用。', en: 'The enclave is unavailable.' },
  'problem.store-unavailable': { zh: '数据库暂不可用，请稍后重试（未做任何更改）。', en: 'The database is unavailable; retry shortly (nothing was changed).' },
  'problem.enclave-timeout': { zh: '安全计算环境响应超时。', en: 'The enclave did not answer in time.' },
  'problem.enclave-bad-response': { zh: '安全计算环境返回了无效应答。', en: 'The enclave answered with an invalid response.' },
  'problem.enclave-bad-request': { zh: '发往安全计算环境的请求无效。', en: 'The request to the enclave was not valid.' },
  'problem.enclave-bad-message': { zh: '安全计算环境消息无效。', en: 'An enclave message was not valid.' },
  'problem.not-configured': { zh: '服务尚未完成配置。', en: 'The service is not configured for this.' },
  'problem.keystore-locked': { zh: '密钥库已锁定。', en: 'The keystore is locked.' },
  'problem.keystore-corrupt': { zh: '密钥库已损坏。', en: 'The keystore is corrupt.' },
  'problem.keystore-master-secret': { zh: '主密钥有误。', en: 'The master secret is wrong.' },
  'problem.keystore-operator-key': { zh: '运营方密钥有误。', en: 'The operator key is wrong.' },
  'problem.keystore-missing': { zh: '密钥库尚未创建：请先启动一台服务器。', en: 'There is no keystore yet: start a server first.' },
  'problem.keystore-not-imported': {
    zh: '安全计算状态库中没有密钥库，而数据目录中仍有嵌入式部署的密钥库或隐私账本：请先用 shuyu server import-enclave-state 导入。',
    en: 'The enclave state store has no keystore while the data directory still holds the embedded keystore or privacy ledger: import them first with shuyu server import-enclave-state.',
  },
  'problem.enclave-state-imported': {
    zh: '该数据目录的安全计算状态已导入 PostgreSQL：请设置 SHUYU_ENCLAVE_DATABASE_URL 后启动。',
    en: "This data directory's enclave state was imported into PostgreSQL: start with SHUYU_ENCLAVE_DATABASE_URL.",
  },
  'problem.enclave-state-import-refused': { zh: '安全计算状态导入被拒绝，未做任何更改。', en: 'The enclave state import was refused; nothing was changed.' },
  'problem.unbalanced-transaction': { zh: '账务分录不平衡（平台内部错误）。', en: 'Ledger entries do not balance (a platform fault).' },
  'problem.capture-mismatch': { zh: '结算金额与托管金额不符（平台内部错误）。', en: 'The capture does not match the escrow (a platform fault).' },
  'problem.internal': { zh: '发生内部错误，已记录。', en: 'An internal error occurred; it has been logged.' },
} as const satisfies Record<string, Template>;

/** Steps of a trade's timeline (TradeTransition.code). */
const TRADE: Record<TradeReasonCode, Template> = {
  'trade.screened': {
    zh: '负面清单 {policyId} 第 {policyVersion} 版筛查结果：{decision:msg=decision.}（{rules}）',
    en: 'negative list {policyId} v{policyVersion}: {decision:msg=decision.} ({rules})',
  },
  'trade.screened-clean': {
    zh: '负面清单 {policyId} 第 {policyVersion} 版筛查结果：{decision:msg=decision.}（未触发任何规则）',
    en: 'negative list {policyId} v{policyVersion}: {decision:msg=decision.} (no rule fired)',
  },
  'trade.denied': { zh: '被负面清单禁止：{rules}', en: 'denied by the negative list: {rules}' },
  'trade.review-required': { zh: '需要合规审核：{rules}', en: 'review required: {rules}' },
  'trade.review-always': { zh: '按现行清单，每笔交易都须经审核员审核', en: 'every trade sees a reviewer under this policy' },
  'trade.auto-approved': { zh: '未触发任何规则，且清单允许自动批准', en: 'no rule fired and the policy allows auto-approval' },
  'trade.reviewer-approved': { zh: '审核员批准：{reason}', en: 'approved by the reviewer: {reason}' },
  'trade.reviewer-rejected': { zh: '审核员驳回：{reason}', en: 'rejected by the reviewer: {reason}' },
  'trade.execution-started': { zh: '开始执行', en: 'execution started' },
  'trade.delivered': { zh: '结果已交付', en: 'result delivered' },
  'trade.settled': {
    zh: '已结算：{ownerShareFen:yuan} 付给数据方，{platformFeeFen:yuan} 平台服务费',
    en: 'captured {ownerShareFen} fen to the owner and {platformFeeFen} fen fee',
  },
  'trade.failed': { zh: '执行失败（{type:msg=problem.}）', en: 'execution failed ({type}): {reason}' },
  'trade.refused-for-privacy': {
    zh: '出于隐私保护被拒绝：{type:msg=problem.} 按询价单收取 {chargedFen:yuan}',
    en: 'refused for privacy ({type}): {message}; {chargedFen} fen charged as quoted',
  },
  'trade.cancelled': { zh: '买方撤销了交易', en: 'cancelled by the buyer' },
  'trade.cancelled-with-reason': { zh: '买方撤销了交易：{reason}', en: 'cancelled by the buyer: {reason}' },
  'trade.expired': { zh: '在“{state:msg=state.}”状态下超过期限 {deadline}', en: 'deadline {deadline} passed in state {state}' },
  /** A step recorded before reasons had codes: its text as it was. */
  'trade.note': { zh: '{text}', en: '{text}' },
};

/** Why a trade failed (Trade.failure.message). */
const FAILURE: Record<FailureCode, Template> = {
  'failure.privacy-refused': {
    zh: '出于隐私保护被拒绝：{type:msg=problem.} 按询价单收取 {chargedFen:yuan}，其余退回。',
    en: 'Refused for privacy ({type}); {chargedFen} fen charged as quoted, the rest returned.',
  },
  'failure.execution-failed': { zh: '执行失败：{type:msg=problem.} 未收取费用。', en: 'Execution failed ({type}); nothing was charged.' },
};

/** Ledger statement memos (LedgerTxn.code). */
const LEDGER: Record<LedgerMemoCode, Template> = {
  'ledger.top-up': { zh: '充值', en: 'top-up' },
  'ledger.top-up-memo': { zh: '充值：{memo}', en: 'top-up: {memo}' },
  'ledger.hold': { zh: '提交交易时冻结 {amountFen:yuan}', en: 'hold on submit: {amountFen} fen' },
  'ledger.release-denied': { zh: '解冻退回：负面清单禁止', en: 'released: denied by the negative list' },
  'ledger.release-rejected': { zh: '解冻退回：审核员驳回', en: 'released: rejected by the reviewer' },
  'ledger.release-failed': { zh: '解冻退回：执行失败', en: 'released: execution failed' },
  'ledger.release-cancelled': { zh: '解冻退回：买方撤销', en: 'released: cancelled by the buyer' },
  'ledger.release-expired': { zh: '解冻退回：交易过期', en: 'released: expired' },
  'ledger.capture': {
    zh: '交付结算：{ownerShareFen:yuan} 付给数据方，{platformFeeFen:yuan} 平台服务费',
    en: 'capture on delivery: {ownerShareFen} fen to the owner, {platformFeeFen} fen fee',
  },
  'ledger.refusal-charge': {
    zh: '隐私拒绝计费：收取 {chargedFen:yuan}，退回 {returnedFen:yuan}',
    en: 'privacy refusal: {chargedFen} fen charged, {returnedFen} fen returned',
  },
  /** A posting recorded before memos had codes: its memo as it was. */
  'ledger.note': { zh: '{text}', en: '{text}' },
};

/** Negative-list findings (Finding.code) and screening words. */
const POLICY: Record<FindingCode | `decision.${'allow' | 'review' | 'deny'}`, Template> = {
  'negative-list.deny': {
    zh: '被规则 {ruleId}「{title}」禁止；依据：{basis}',
    en: 'Denied by rule {ruleId} “{title}”; basis: {basis}',
  },
  'negative-list.review': {
    zh: '规则 {ruleId}「{title}」要求合规审核；依据：{basis}',
    en: 'Rule {ruleId} “{title}” requires a compliance review; basis: {basis}',
  },
  'negative-list.statement-flagged': {
    zh: '用途说明可能含有禁止的用途（规则 {ruleId}「{title}」），转交审核员判断；依据：{basis}',
    en: 'The purpose statement may describe a prohibited purpose (rule {ruleId} “{title}”); a reviewer decides. Basis: {basis}',
  },
  'decision.allow': { zh: '允许', en: 'allow' },
  'decision.review': { zh: '需审核', en: 'review' },
  'decision.deny': { zh: '禁止', en: 'deny' },
};

/** Trade states, for timeline sentences. */
const STATES = {
  'state.submitted': { zh: '已提交', en: 'submitted' },
  'state.screened': { zh: '已筛查', en: 'screened' },
  'state.under_review': { zh: '审核中', en: 'under review' },
  'state.approved': { zh: '已批准', en: 'approved' },
  'state.rejected': { zh: '已驳回', en: 'rejected' },
  'state.executing': { zh: '执行中', en: 'executing' },
  'state.delivered': { zh: '已交付', en: 'delivered' },
  'state.failed': { zh: '失败', en: 'failed' },
  'state.settled': { zh: '已结算', en: 'settled' },
  'state.cancelled': { zh: '已撤销', en: 'cancelled' },
  'state.expired': { zh: '已过期', en: 'expired' },
} as const satisfies Record<string, Template>;

export const MESSAGES = { ...STATUS, ...PROBLEMS, ...TRADE, ...FAILURE, ...LEDGER, ...POLICY, ...STATES } as const;

export type MessageCode = keyof typeof MESSAGES;

/** A reason as data: the code and its parameters (numbers in fen, ids, names). */
export interface Message<C extends string = MessageCode> {
  code: C;
  params: MessageParams;
}

export const isMessageCode = (code: string): code is MessageCode => Object.prototype.hasOwnProperty.call(MESSAGES, code);

/** Fen as yuan: 4500 → "45.00 元" / "¥45.00". */
export function formatYuan(fen: number, lang: Lang): string {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(fen));
  const yuan = `${Math.floor(abs / 100).toLocaleString('en-US')}.${String(abs % 100).padStart(2, '0')}`;
  return lang === 'zh' ? `${sign}${yuan} 元` : `${sign}¥${yuan}`;
}

function show(value: ParamValue | undefined, format: string | undefined, lang: Lang): string {
  if (value === undefined || value === null) return '—';
  if (format === 'yuan' && typeof value === 'number') return formatYuan(value, lang);
  if (format?.startsWith('msg=') && typeof value === 'string') {
    const code = `${format.slice(4)}${value}`;
    return isMessageCode(code) ? render(code, {}, lang) : value;
  }
  if (Array.isArray(value)) return value.length ? value.join(lang === 'zh' ? '、' : ', ') : '—';
  if (typeof value === 'object') return (value as { zh: string; en: string })[lang];
  return String(value);
}

/**
 * The text of `code` with `params` in `lang`. An unknown code renders as itself (so a newer server's code
 * still shows something); a missing parameter shows as "—".
 */
export function render(code: string, params: MessageParams = {}, lang: Lang = 'en'): string {
  if (!isMessageCode(code)) return code;
  const template: Template = MESSAGES[code];
  return template[lang].replace(/\{([A-Za-z0-9_]+)(?::([^}]+))?\}/g, (_m, name: string, format: string | undefined) => show(params[name], format, lang));
}

/** Renders a `{ code, params }` pair. */
export const renderMessage = (m: { code: string; params?: MessageParams | Record<string, unknown> }, lang: Lang): string =>
  render(m.code, (m.params ?? {}) as MessageParams, lang);

/**
 * The language a request asks for: `?lang=zh|en` wins, then the first of zh/en in Accept-Language by
 * weight; English otherwise (the API's language before it had a catalogue).
 */
export function negotiateLang(acceptLanguage?: string | null, queryLang?: string | null): Lang {
  const q = queryLang?.trim().toLowerCase();
  if (q === 'zh' || q?.startsWith('zh-')) return 'zh';
  if (q === 'en' || q?.startsWith('en-')) return 'en';
  if (!acceptLanguage) return 'en';
  const ranked = acceptLanguage
    .split(',')
    .map((part, i) => {
      const [tag = '', ...rest] = part.trim().toLowerCase().split(';');
      const qv = rest.map((r) => r.trim()).find((r) => r.startsWith('q='));
      const weight = qv ? Number(qv.slice(2)) : 1;
      return { lang: tag.split('-')[0], weight: Number.isFinite(weight) ? weight : 0, i };
    })
    .filter((x) => x.weight > 0 && (x.lang === 'zh' || x.lang === 'en'))
    .sort((a, b) => b.weight - a.weight || a.i - b.i);
  return (ranked[0]?.lang as Lang | undefined) ?? 'en';
}
