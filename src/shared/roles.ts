// Roles and pages, shared so the renderer can lay out navigation. Main enforces access
// on every call; hiding a button here is only courtesy.

export const ROLES = ['clerk', 'manager', 'support', 'security_officer', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_LABELS: Record<Role, string> = {
  clerk: 'Branch clerk',
  manager: 'Manager',
  support: 'Support',
  security_officer: 'Security officer',
  auditor: 'Auditor',
};

export const PAGES = [
  'dashboard',
  'customers',
  'enroll',
  'mailers',
  'cards',
  'support',
  'usage',
  'audit',
  'keys',
  'admin',
  'clients',
] as const;
export type Page = (typeof PAGES)[number];

/** Which roles may open which page. Every page's data channels carry the same rule in main. */
export const PAGE_ACCESS: Record<Page, readonly Role[]> = {
  dashboard: ROLES,
  customers: ['clerk', 'manager', 'support', 'auditor'],
  enroll: ['clerk', 'manager'],
  mailers: ['manager'],
  cards: ['clerk', 'manager', 'support', 'auditor', 'security_officer'],
  support: ['support', 'manager', 'security_officer'],
  usage: ['manager', 'auditor', 'support'],
  audit: ['auditor', 'security_officer', 'manager'],
  keys: ['security_officer'],
  admin: ['security_officer'],
  clients: ['manager', 'security_officer', 'auditor'],
};

export function mayOpen(role: Role, page: Page): boolean {
  return PAGE_ACCESS[page].includes(role);
}
