// The preference losses by name: kept apart from losses.ts so the config can list them without loading tfjs.

export const PREFERENCE_LOSSES = ['dpo', 'ipo', 'hinge'] as const;
export type PreferenceLossKind = (typeof PREFERENCE_LOSSES)[number];
