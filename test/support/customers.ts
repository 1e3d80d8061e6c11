import type { CustomerInput } from '../../src/shared/contract/customers.contract';

/** A valid customer as an operator would type it. */
export const ADA: CustomerInput = {
  fullName: 'Ada Lovelace',
  birthDate: '1985-12-10',
  customerRef: 'C-1001',
  address: { line1: '12 St James’s Square', line2: '', postalCode: 'SW1Y 4JH', city: 'London', country: 'GB' },
  email: 'ada@example.org',
  mobile: '+44 7700 900001',
  branch: 'London Central',
};

/** Another person, with nothing in common with ADA. */
export const GRACE: CustomerInput = {
  fullName: 'Grace Brewster Hopper',
  birthDate: '1966-12-09',
  customerRef: 'C-2002',
  address: { line1: '1 Navy Yard', postalCode: '10001', city: 'New York', country: 'US' },
  email: 'grace@example.org',
  mobile: '+12025550123',
  branch: 'New York',
};
