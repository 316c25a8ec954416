/**
 * Purpose codes by name: the published purpose catalogue (contracts/policy/purposes.ts, the one GET
 * /v1/purposes serves), bundled with the console so naming a purpose costs no request.
 */
import { purposeByCode } from '../../contracts/policy/purposes.js';
import { bi } from '../i18n.js';

export const purposeName = (code: string): string => bi(purposeByCode(code)?.name) || code;
