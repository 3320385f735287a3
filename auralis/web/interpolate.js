// Interpolation: sample-rate conversion and drift correction share one fractional read head.

/** 4-point, 3rd-order Hermite (Catmull-Rom) interpolation between x0 and x1 at t in [0, 1). */
export function hermite(xm1, x0, x1, x2, t) {
  const c1 = 0.5 * (x1 - xm1);
  const c2 = xm1 - 2.5 * x0 + 2 * x1 - 0.5 * x2;
  const c3 = 0.5 * (x2 - xm1) + 1.5 * (x0 - x1);
  return ((c3 * t + c2) * t + c1) * t + x0;
}
