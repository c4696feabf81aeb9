/// Register-blocked kernels for inference attention (no probabilities kept), one head at a time.
///
/// OpenBLAS is slow on attention's shapes: per block of queries it zeroes the score matrix, packs
/// the keys again (k = head size is small, so packing costs as much as a quarter of the product) and
/// packs the probabilities before the second product; measured at 1000 keys, 64 per head, one
/// thread: 51 GFLOP/s for Q·Kᵀ and 58 for P·V. Here keys and values are packed once per (item, head)
/// in 16-wide panels and the two products run at ~80 GFLOP/s each, with fused multiply-adds:
///
/// - scores: 6 query rows × 16 keys per tile (12 of the 16 ymm registers as accumulators), the sum
///   over the head dimension in order, scaled at the end — OpenBLAS sums in another order, so scores
///   differ from its by rounding (~1e-7 relative);
/// - P·V: 6 query rows × 16 value columns per tile, the sum over keys in order.

/// Key panels of one (item, head): panel p holds keys 16p..<16p+16 as [dh][16] (zeros past the last
/// key), so a tile reads 16 consecutive floats per head dimension.
@inline(__always)
func packKeyPanels(_ k: UnsafePointer<Float>, ldk: Int, keys: Int, headDim dh: Int, into dst: UnsafeMutablePointer<Float>) {
  let panels = (keys + 15) / 16
  for p in 0..<panels {
    let panel = dst + p * dh * 16
    let n = min(16, keys - p * 16)
    if n < 16 { panel.update(repeating: 0, count: dh * 16) }
    for jj in 0..<n {
      let src = k + (p * 16 + jj) * ldk
      for t in 0..<dh { panel[t * 16 + jj] = src[t] }
    }
  }
}

/// Value panels of one (item, head): panel c holds value columns 16c..<16c+16 of every key as
/// [keys][16] (zeros past the head size).
@inline(__always)
func packValuePanels(_ v: UnsafePointer<Float>, ldv: Int, keys: Int, headDim dh: Int, into dst: UnsafeMutablePointer<Float>) {
  let panels = (dh + 15) / 16
  for c in 0..<panels {
    let n = min(16, dh - c * 16)
    let panel = dst + c * keys * 16
    if n == 16 {
      for j in 0..<keys { storeVec(loadVec(v + j * ldv + c * 16), panel + j * 16) }
    } else {
      for j in 0..<keys { storeVec(loadPartial(v + j * ldv + c * 16, n), panel + j * 16) }
    }
  }
}

/// s[r, j] = scale · Σ_t q[r, t]·k[j, t] for r < rows (≤ 6) and every key panel; s rows are
/// `lds` apart and hold `panels`·16 columns (columns past the last key hold 0).
@inline(__always)
func attentionScoreTile(rows: Int, _ q: UnsafePointer<Float>, ldq: Int, panels: Int, _ kp: UnsafePointer<Float>,
                        headDim dh: Int, scale: Float, _ s: UnsafeMutablePointer<Float>, lds: Int) {
  // Rows past `rows` read row 0 again; their results are not stored.
  let q0 = q, q1 = rows > 1 ? q + ldq : q, q2 = rows > 2 ? q + 2 * ldq : q
  let q3 = rows > 3 ? q + 3 * ldq : q, q4 = rows > 4 ? q + 4 * ldq : q, q5 = rows > 5 ? q + 5 * ldq : q
  let sv = Vec(repeating: scale)
  for p in 0..<panels {
    var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec(), a4 = Vec(), a5 = Vec()
    var kk = kp + p * dh * 16
    for t in 0..<dh {
      let kv = loadVec(kk)
      a0 = a0.addingProduct(Vec(repeating: q0[t]), kv)
      a1 = a1.addingProduct(Vec(repeating: q1[t]), kv)
      a2 = a2.addingProduct(Vec(repeating: q2[t]), kv)
      a3 = a3.addingProduct(Vec(repeating: q3[t]), kv)
      a4 = a4.addingProduct(Vec(repeating: q4[t]), kv)
      a5 = a5.addingProduct(Vec(repeating: q5[t]), kv)
      kk += 16
    }
    let o = s + p * 16
    storeVec(a0 * sv, o)
    if rows > 1 { storeVec(a1 * sv, o + lds) }
    if rows > 2 { storeVec(a2 * sv, o + 2 * lds) }
    if rows > 3 { storeVec(a3 * sv, o + 3 * lds) }
    if rows > 4 { storeVec(a4 * sv, o + 4 * lds) }
    if rows > 5 { storeVec(a5 * sv, o + 5 * lds) }
  }
}

/// o[r, c] = rowScale[r] · Σ_j p[r, j]·v[j, c] over `keys` keys, for r < rows (≤ 6) and c < dh; p
/// rows are `ldp` apart, o rows `ldo` apart. (p holds unnormalised exponentials and rowScale the
/// reciprocal of their sums: normalising 64 outputs costs less than normalising the key-long row.)
@inline(__always)
func attentionValueTile(rows: Int, _ p: UnsafePointer<Float>, ldp: Int, keys: Int, _ vp: UnsafePointer<Float>,
                        headDim dh: Int, rowScale: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, ldo: Int) {
  let p0 = p, p1 = rows > 1 ? p + ldp : p, p2 = rows > 2 ? p + 2 * ldp : p
  let p3 = rows > 3 ? p + 3 * ldp : p, p4 = rows > 4 ? p + 4 * ldp : p, p5 = rows > 5 ? p + 5 * ldp : p
  let panels = (dh + 15) / 16
  for c in 0..<panels {
    var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec(), a4 = Vec(), a5 = Vec()
    var v = vp + c * keys * 16
    for j in 0..<keys {
      let vv = loadVec(v)
      a0 = a0.addingProduct(Vec(repeating: p0[j]), vv)
      a1 = a1.addingProduct(Vec(repeating: p1[j]), vv)
      a2 = a2.addingProduct(Vec(repeating: p2[j]), vv)
      a3 = a3.addingProduct(Vec(repeating: p3[j]), vv)
      a4 = a4.addingProduct(Vec(repeating: p4[j]), vv)
      a5 = a5.addingProduct(Vec(repeating: p5[j]), vv)
      v += 16
    }
    a0 *= Vec(repeating: rowScale[0])
    if rows > 1 { a1 *= Vec(repeating: rowScale[1]) }
    if rows > 2 { a2 *= Vec(repeating: rowScale[2]) }
    if rows > 3 { a3 *= Vec(repeating: rowScale[3]) }
    if rows > 4 { a4 *= Vec(repeating: rowScale[4]) }
    if rows > 5 { a5 *= Vec(repeating: rowScale[5]) }
    let n = min(16, dh - c * 16), oc = o + c * 16
    store(a0, oc, n)
    if rows > 1 { store(a1, oc + ldo, n) }
    if rows > 2 { store(a2, oc + 2 * ldo, n) }
    if rows > 3 { store(a3, oc + 3 * ldo, n) }
    if rows > 4 { store(a4, oc + 4 * ldo, n) }
    if rows > 5 { store(a5, oc + 5 * ldo, n) }
  }
}
