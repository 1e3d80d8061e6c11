// The support case (issue 11 items 1 and 2) decides whether a reissue may happen: the card was
// reported and the customer's identity was verified out of band. The reissue asks it through this
// gate and tells it when the new card exists. The case service implements it; the composition root
// hands it to reissueModule.

export interface ReissueGate {
  /** The case's customer and old card once identity was verified out of band; throws AppError otherwise. */
  verifiedCase(caseId: number): Promise<{ customerId: number; oldCardId: number }>;
  /** Marks the case reissued with the new card (compare-and-set from 'verified'; throws when not verified or already reissued). */
  markReissued(caseId: number, newCardId: number): Promise<void>;
}
