// The definition pins of tool integrity. The table's rows, rules and statements live in src/state/
// (pin-rows.ts, sqlite-pins.ts, pg/pins.ts), where both stores reach them; this is the stage's name for them.
export { PinStore, sqlitePins } from '../state/sqlite-pins.js';
export {
  describeKey,
  pinEvent,
  type Observation,
  type PinKey,
  type PinState,
  type ServerPinning,
  type SharedPins,
} from '../state/pin-rows.js';
