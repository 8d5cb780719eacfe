/**
 * Per-account circuit breaker (routing spec A8), pure state machine: the caller owns time and
 * persistence. Counts are "failures since the last success"; there is no time window.
 */
export type CircuitState = 'closed' | 'open' | 'half_open';

export type Circuit = {
  state: CircuitState;
  failures: number;
  successes: number;
  probesInFlight: number;
  openedAt: number | null;
  nextProbeAt: number | null;
  updatedAt: number;
};

export type CircuitSettings = { failureThreshold: number; openMs: number; probeLimit: number; successThreshold: number };

export const DEFAULT_CIRCUIT_SETTINGS: CircuitSettings = { failureThreshold: 3, openMs: 60_000, probeLimit: 1, successThreshold: 1 };

export type Transition = 'closed_to_open' | 'open_to_half_open' | 'open_to_closed' | 'half_open_to_closed' | 'half_open_to_open';

export const closedCircuit = (now: number): Circuit => ({ state: 'closed', failures: 0, successes: 0, probesInFlight: 0, openedAt: null, nextProbeAt: null, updatedAt: now });

const stale = (circuit: Circuit, now: number, settings: CircuitSettings) => now - circuit.updatedAt >= settings.openMs;

/** Whether the circuit keeps this account out of a route right now. */
export function isBlocked(circuit: Circuit | undefined, now: number, settings = DEFAULT_CIRCUIT_SETTINGS): boolean {
  if (!circuit) return false;
  if (circuit.state === 'open') return circuit.nextProbeAt === null || circuit.nextProbeAt > now;
  if (circuit.state === 'half_open') return circuit.probesInFlight >= settings.probeLimit && !stale(circuit, now, settings);
  return false;
}

export type Admission = { kind: 'normal' | 'probe'; circuit: Circuit; transition: Transition | null } | { kind: 'blocked'; circuit: Circuit; transition: null };

/** Before an attempt: an open circuit past its probe time lets one probe through (half-open). */
export function beginAttempt(circuit: Circuit | undefined, now: number, settings = DEFAULT_CIRCUIT_SETTINGS): Admission {
  const current = circuit ?? closedCircuit(now);
  if (current.state === 'closed') return { kind: 'normal', circuit: current, transition: null };
  if (current.state === 'open') {
    if (current.nextProbeAt !== null && current.nextProbeAt > now) return { kind: 'blocked', circuit: current, transition: null };
    return { kind: 'probe', circuit: { ...current, state: 'half_open', successes: 0, probesInFlight: 1, updatedAt: now }, transition: 'open_to_half_open' };
  }
  const inFlight = stale(current, now, settings) ? 0 : current.probesInFlight;
  if (inFlight >= settings.probeLimit) return { kind: 'blocked', circuit: current, transition: null };
  return { kind: 'probe', circuit: { ...current, probesInFlight: inFlight + 1, updatedAt: now }, transition: null };
}

export function recordFailure(circuit: Circuit | undefined, admission: 'normal' | 'probe', now: number, settings = DEFAULT_CIRCUIT_SETTINGS): { circuit: Circuit; transition: Transition | null } {
  const current = circuit ?? closedCircuit(now);
  const failures = current.failures + 1;
  const probesInFlight = admission === 'probe' ? Math.max(0, current.probesInFlight - 1) : current.probesInFlight;
  const open = (from: CircuitState): { circuit: Circuit; transition: Transition | null } => ({
    circuit: { state: 'open', failures, successes: 0, probesInFlight, openedAt: now, nextProbeAt: now + settings.openMs, updatedAt: now },
    transition: from === 'closed' ? 'closed_to_open' : from === 'half_open' ? 'half_open_to_open' : null,
  });
  if (current.state === 'half_open') {
    if (admission !== 'probe' && probesInFlight > 0) return { circuit: { ...current, failures, successes: 0, updatedAt: now }, transition: null };
    return open('half_open');
  }
  if (current.state === 'open') return { circuit: { ...current, failures, updatedAt: now }, transition: null };
  if (failures >= settings.failureThreshold) return open('closed');
  return { circuit: { ...current, failures, successes: 0, updatedAt: now }, transition: null };
}

export function recordSuccess(circuit: Circuit | undefined, admission: 'normal' | 'probe', now: number, settings = DEFAULT_CIRCUIT_SETTINGS): { circuit: Circuit; transition: Transition | null } {
  const current = circuit ?? closedCircuit(now);
  if (current.state === 'half_open') {
    const successes = current.successes + 1;
    const probesInFlight = admission === 'probe' ? Math.max(0, current.probesInFlight - 1) : current.probesInFlight;
    if (successes >= settings.successThreshold) return { circuit: closedCircuit(now), transition: 'half_open_to_closed' };
    return { circuit: { ...current, successes, probesInFlight, updatedAt: now }, transition: null };
  }
  if (current.state === 'open') return { circuit: closedCircuit(now), transition: 'open_to_closed' };
  return { circuit: closedCircuit(now), transition: null };
}

/** A probe that ended without a verdict (never sent, or a health-neutral failure). */
export function recordNeutral(circuit: Circuit | undefined, admission: 'normal' | 'probe', now: number): Circuit | undefined {
  if (!circuit || admission !== 'probe') return circuit;
  return { ...circuit, probesInFlight: Math.max(0, circuit.probesInFlight - 1), updatedAt: now };
}
