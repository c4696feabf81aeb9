/// Linear layers on weights repacked once, for inference with fixed weights (a sampler's run).
///
/// OpenBLAS packs the weight matrix again at every call (per worker), which costs about as much as
/// the product itself when only a few rows multiply it: at 8 rows × 256 → 768 it reaches 30 GFLOP/s,
/// at 60 rows 66, against ~80 for large products (one thread, measured here). A sampler multiplies
/// the same weights 128 times per sample, mostly by a few to a few hundred rows. `PackedWeights`
/// holds each weight [out, in] as panels of 16 output features, [in][16] each (zeros past the last
/// feature); `panelLinear` runs 6-row × 16-feature tiles over them (12 ymm accumulators, fused
/// multiply-adds over the input features in order), rows in blocks of 48 so that a block stays in
/// L1/L2 while the panels stream once per block. Measured at 8, 30, 60, 250 and 512 rows: 50, 75,
/// 99, 78 and 97 GFLOP/s against OpenBLAS's 30, 46, 66, 67 and 90.

/// Weight panels of a set of linear layers, looked up by the weight tensor. A snapshot: stale once
/// the weights change (make a new one).
public final class PackedWeights: @unchecked Sendable {
  struct Key: Hashable {
    let storage: ObjectIdentifier
    let offset: Int
  }
  struct Entry {
    let panels: Tensor
    let outFeatures: Int
    let inFeatures: Int
  }
  private var entries: [Key: Entry] = [:]

  /// Packs every weight [out, in] of `weights`.
  public init(_ weights: [Tensor]) {
    var list: [(Key, Entry)] = []
    for w in weights {
      precondition(w.rank == 2, "PackedWeights: a linear weight is [out, in], got \(w.shape)")
      let n = w.shape[0], k = w.shape[1]
      list.append((Key(storage: ObjectIdentifier(w.storage), offset: w.offset),
                   Entry(panels: Tensor(uninitialized: [(n + 15) / 16 * k * 16]), outFeatures: n, inFeatures: k)))
    }
    Parallel.forEachItem(list.count) { i in
      packWeightPanels(weights[i].pointer, outFeatures: list[i].1.outFeatures, inFeatures: list[i].1.inFeatures,
                       into: list[i].1.panels.pointer)
    }
    for (key, entry) in list { entries[key] = entry }
  }

  /// Number of weights held.
  public var count: Int { entries.count }

  /// The panels of `w`: a packed weight, or its first rows when they end on a panel boundary (the
  /// key half of a k|v projection, `w.rows(0..<D)`).
  func entry(for w: Tensor) -> Entry? {
    guard w.rank == 2, let e = entries[Key(storage: ObjectIdentifier(w.storage), offset: w.offset)],
          e.inFeatures == w.shape[1] else { return nil }
    if e.outFeatures == w.shape[0] { return e }
    guard w.shape[0] < e.outFeatures && w.shape[0] % 16 == 0 else { return nil }
    return Entry(panels: e.panels, outFeatures: w.shape[0], inFeatures: e.inFeatures)
  }
}

/// Panel p of w [n, k] is w[16p..<16p+16, :] transposed, [k][16], zeros past row n.
func packWeightPanels(_ w: UnsafePointer<Float>, outFeatures n: Int, inFeatures k: Int, into dst: UnsafeMutablePointer<Float>) {
  let panels = (n + 15) / 16
  for p in 0..<panels {
    let panel = dst + p * k * 16
    let rows = min(16, n - p * 16)
    if rows < 16 { panel.update(repeating: 0, count: k * 16) }
    for jj in 0..<rows {
      let src = w + (p * 16 + jj) * k
      for t in 0..<k { panel[t * 16 + jj] = src[t] }
    }
  }
}

/// y[r, 16p + c] = Σ_t x[r, t]·w[16p + c, t] (+ bias), then GELU when `gelu`, for r < rows (≤ 6)
/// and the `columns` (≤ 16) features of panel p. The activation is `biasGELURow`'s, on the same
/// sums, so the fused tile gives the bits of a product followed by that pass.
@inline(__always)
func linearTile(rows: Int, _ x: UnsafePointer<Float>, ldx: Int, _ panel: UnsafePointer<Float>, inFeatures k: Int,
                bias: UnsafePointer<Float>?, gelu: Bool, columns: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int) {
  let x0 = x, x1 = rows > 1 ? x + ldx : x, x2 = rows > 2 ? x + 2 * ldx : x
  let x3 = rows > 3 ? x + 3 * ldx : x, x4 = rows > 4 ? x + 4 * ldx : x, x5 = rows > 5 ? x + 5 * ldx : x
  var a0 = Vec(), a1 = Vec(), a2 = Vec(), a3 = Vec(), a4 = Vec(), a5 = Vec()
  var wp = panel
  for t in 0..<k {
    let wv = loadVec(wp)
    a0 = a0.addingProduct(Vec(repeating: x0[t]), wv)
    a1 = a1.addingProduct(Vec(repeating: x1[t]), wv)
    a2 = a2.addingProduct(Vec(repeating: x2[t]), wv)
    a3 = a3.addingProduct(Vec(repeating: x3[t]), wv)
    a4 = a4.addingProduct(Vec(repeating: x4[t]), wv)
    a5 = a5.addingProduct(Vec(repeating: x5[t]), wv)
    wp += 16
  }
  if let bias {
    let b = columns == 16 ? loadVec(bias) : loadPartial(bias, columns)
    a0 += b; a1 += b; a2 += b; a3 += b; a4 += b; a5 += b
  }
  if gelu {
    a0 = a0 * vsigmoid(2 * geluU(a0)); a1 = a1 * vsigmoid(2 * geluU(a1)); a2 = a2 * vsigmoid(2 * geluU(a2))
    a3 = a3 * vsigmoid(2 * geluU(a3)); a4 = a4 * vsigmoid(2 * geluU(a4)); a5 = a5 * vsigmoid(2 * geluU(a5))
  }
  store(a0, y, columns)
  if rows > 1 { store(a1, y + ldy, columns) }
  if rows > 2 { store(a2, y + 2 * ldy, columns) }
  if rows > 3 { store(a3, y + 3 * ldy, columns) }
  if rows > 4 { store(a4, y + 4 * ldy, columns) }
  if rows > 5 { store(a5, y + 5 * ldy, columns) }
}

/// y [m, n] = x [m, k] · Wᵀ (+ bias [n]) (then GELU when `gelu`) with W as `PackedWeights` panels.
/// One work item per worker, of equal size: with enough rows (48 per worker or more) each worker
/// takes a contiguous range of rows (a multiple of the 6-row tile) and runs it in 48-row blocks over
/// every panel; with fewer rows each takes a range of panels for every row, so it streams only its
/// share of the weight. (Round-robin 48-row blocks left one worker a block more than the other: 11
/// blocks at 512 rows, 6 against 5.)
func panelLinear(_ x: UnsafePointer<Float>, rows m: Int, _ weight: PackedWeights.Entry, bias: UnsafePointer<Float>?,
                 gelu: Bool = false, _ y: UnsafeMutablePointer<Float>) {
  let n = weight.outFeatures, k = weight.inFeatures
  let panels = (n + 15) / 16
  let blockRows = 48
  let workers = m * n * k >= 1 << 17 ? Parallel.workers : 1
  let rowParts = m >= blockRows * workers ? workers : 1
  let panelParts = min(panels, workers / rowParts)
  let tiles = (m + 5) / 6
  let wp = UnsafePointer(weight.panels.pointer)
  let body: (Int) -> Void = { item in
    let rowPart = item / panelParts, panelPart = item % panelParts
    let r0 = tiles * rowPart / rowParts * 6, r1 = min(m, tiles * (rowPart + 1) / rowParts * 6)
    let p0 = panels * panelPart / panelParts, p1 = panels * (panelPart + 1) / panelParts
    var b0 = r0
    while b0 < r1 {
      let rows = min(blockRows, r1 - b0)
      for p in p0..<p1 {
        let columns = min(16, n - p * 16)
        var r = 0
        while r < rows {
          linearTile(rows: min(6, rows - r), x + (b0 + r) * k, ldx: k, wp + p * k * 16, inFeatures: k,
                     bias: bias.map { $0 + p * 16 }, gelu: gelu, columns: columns, y + (b0 + r) * n + p * 16, ldy: n)
          r += 6
        }
      }
      b0 += blockRows
    }
  }
  if rowParts * panelParts == 1 {
    body(0)
  } else {
    Parallel.forEachItem(rowParts * panelParts, body)
  }
}
