// expect-error: TS2561
// expect-message: 'display_name' does not exist in type 'Profile'
// Without `rename_all = "camelCase"` serde would write `display_name`: the generated type says
// `displayName`, so a value of the other shape does not type-check (the samples can fail).
import type { Profile } from "../shapes/serde-shapes.js";
export const wrong: Profile = { display_name: "Ada", avatarUrl: null, scores: {}, role: "ADMIN", status: { kind: "offline" }, since: 0 };
