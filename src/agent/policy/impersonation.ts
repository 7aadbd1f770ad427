/**
 * Impersonation headers as policy actions (docs/design.md §6: impersonation is tier 3). The API
 * server acts as whoever `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and
 * `Impersonate-Extra-KEY` name, after checking RBAC's `impersonate` verb on users, groups,
 * serviceaccounts, uids and userextras/KEY. The policy checks the same actions, so a rule
 * such as `--deny "impersonate groups /system:masters"` or
 * `--allow "impersonate serviceaccounts ci/*"` reads as it would in RBAC.
 *
 * Untrusted input: header names and values from the client. Pass Node's
 * `req.headersDistinct` (one array entry per header line): `req.headers` joins repeated
 * headers with ", ", which would hide a second group from a --deny rule. A value that
 * contains a comma is refused as ambiguous for the same reason.
 */
import { POLICY_MAX_IMPERSONATION_VALUES } from '../../limits.js';
import type { ResourceAction } from './policy-action.js';

/** Request headers as Node gives them; names are matched case-insensitively. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

export type ImpersonationResult =
  | { readonly ok: true; readonly actions: readonly ResourceAction[] }
  | { readonly ok: false; readonly problem: string };

const AUTHENTICATION_GROUP = 'authentication.k8s.io';
/** `system:serviceaccount:NAMESPACE:NAME`, which RBAC checks as serviceaccounts in NAMESPACE. */
const SERVICE_ACCOUNT_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

/** The impersonation actions a request's headers ask for (none for an ordinary request). */
export function impersonationActions(headers: RequestHeaders): ImpersonationResult {
  const actions: ResourceAction[] = [];
  let values = 0;
  for (const [rawName, rawValue] of Object.entries(headers)) {
    const name = rawName.toLowerCase();
    if (!name.startsWith('impersonate-') || rawValue === undefined) continue;
    const list: readonly string[] = typeof rawValue === 'string' ? [rawValue] : rawValue;
    for (const value of list) {
      values += 1;
      if (values > POLICY_MAX_IMPERSONATION_VALUES) {
        return { ok: false, problem: `more than ${POLICY_MAX_IMPERSONATION_VALUES} impersonation header values` };
      }
      if (value.includes(',')) {
        return { ok: false, problem: `an ${rawName} header value contains a comma (repeated headers joined?)` };
      }
      const action = actionFor(name, value.trim());
      if (action === undefined) return { ok: false, problem: `unknown impersonation header ${rawName}` };
      actions.push(action);
    }
  }
  return { ok: true, actions };
}

function actionFor(name: string, value: string): ResourceAction | undefined {
  const base = { kind: 'resource', verb: 'impersonate', namespace: '', subresource: '' } as const;
  switch (name) {
    case 'impersonate-user': {
      const serviceAccount = SERVICE_ACCOUNT_USER.exec(value);
      if (serviceAccount) {
        return { ...base, group: '', resource: 'serviceaccounts', namespace: serviceAccount[1] ?? '', name: serviceAccount[2] ?? '' };
      }
      return { ...base, group: '', resource: 'users', name: value };
    }
    case 'impersonate-group':
      return { ...base, group: '', resource: 'groups', name: value };
    case 'impersonate-uid':
      return { ...base, group: AUTHENTICATION_GROUP, resource: 'uids', name: value };
    default: {
      if (!name.startsWith('impersonate-extra-')) return undefined;
      const key = name.slice('impersonate-extra-'.length);
      return { ...base, group: AUTHENTICATION_GROUP, resource: 'userextras', subresource: key, name: value };
    }
  }
}
