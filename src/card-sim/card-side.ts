// The interface lives with the readers that drive it (core/card/card-side.ts); the virtual card implements it.
export type { CardSide } from '../core/card/card-side';
