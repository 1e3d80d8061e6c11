// Policies the services read at the moment of use. Defaults are the embedded configuration;
// the policy editor (dual-controlled, versioned) stores overrides.

export interface Policies {
  readonly maxFailedSignIns: number;
  readonly sessionTimeoutMinutes: number;
}

export const DEFAULT_POLICIES: Policies = {
  maxFailedSignIns: 5,
  sessionTimeoutMinutes: 15,
};

export interface PolicySource {
  current(): Policies;
}

export class StaticPolicySource implements PolicySource {
  constructor(private readonly values: Policies = DEFAULT_POLICIES) {}
  current(): Policies {
    return this.values;
  }
}
