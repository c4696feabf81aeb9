import Engine

/// GroupSwap (`decoder.group_swap`): builds one query per output position *without looking at that
/// position's token*, then cross-attends to the encoder output of the other group.
///
///   q0 = base_embedding                                   (learn)
///        + sinusoid(output position)                      (+freqs)
///        + mean / logsumexp of the other group's encoder outputs   (+mean / +logsumexp)
///   q  = query_processor(pre_query_norm(q0))              (linear | mlp4: Linear, SiLU, Linear)
///   k|v = hidden_to_key_value(e)
///   out = output_linear(MHA(rot(q), rot(k), v))           (no residual)
struct GroupSwap {
  let baseEmbedding: Tensor
  let preQueryNorm: LayerNormLayer
  let processorFirst: Linear
  let processorSecond: Linear?
  let hiddenToKeyValue: Linear
  let outputLinear: Linear
  let mode: ModelConfig.PreQueryMode

  init(_ p: ParameterBuilder, _ c: ModelConfig) {
    let d = c.hiddenSize
    mode = c.preQueryMode
    // Registration order as in the reference: own parameter first, then submodules.
    baseEmbedding = p.tensor("base_embedding", Init.normal([1, d], std: 1, &p.rng))
    preQueryNorm = p.layerNorm("pre_query_norm", d, bias: true, eps: 1e-5)
    switch c.queryProcessMode {
    case .linear:
      processorFirst = p.linear("query_processor", d, d)
      processorSecond = nil
    case .mlp4:
      (processorFirst, processorSecond) = p.scope("query_processor") {
        (p.linear("0", d, 4 * d), p.linear("2", 4 * d, d))
      }
    }
    hiddenToKeyValue = p.linear("hidden_to_key_value", d, 2 * d)
    outputLinear = p.linear("output_linear", d, d)
  }

  var tokenWeights: [Tensor] {
    [processorFirst.weight, hiddenToKeyValue.weight, outputLinear.weight] + (processorSecond.map { [$0.weight] } ?? [])
  }

  /// The other group's aggregate for each query: `segments` assigns encoder tokens to segments
  /// (−1: excluded), `pick[b, i]` says which segment query i reads.
  struct Aggregate {
    let segments: TokenTensor
    let count: Int
    let pick: TokenTensor
  }

  func callAsFunction(_ g: Graph, encoder e: Var, _ ctx: BlockContext, queryPositions: TokenTensor,
                      keyPositions: TokenTensor, aggregate: Aggregate, mask: AttentionMask?) -> Var {
    let b = queryPositions.shape[0], lq = queryPositions.shape[1], d = e.shape.last!
    // Without an aggregate the query depends on the position only; when every row asks for the
    // same positions (training mode) it is computed once and shared by the batch, as the reference does.
    let shared = !mode.usesAggregate && (1..<b).allSatisfy { bi in
      (0..<lq).allSatisfy { queryPositions[bi, $0] == queryPositions[0, $0] }
    }
    let rows = shared ? 1 : b
    let positions = Array(queryPositions.values.prefix(rows * lq))
    let positional = mode.usesFrequencies
      ? Sinusoidal.positionFeatures(positions: positions, dim: d).reshaped([rows, lq, d])
      : Tensor.zeros([rows, lq, d])
    var q0 = g.add(g.constant(positional), g.parameter(baseEmbedding))
    if mode.usesAggregate {
      let reduced = g.segmentReduce(e, segments: aggregate.segments, count: aggregate.count,
                                    mode == .learnFreqsMean ? .mean : .logsumexp)
      q0 = g.add(q0, g.gatherRows(reduced, aggregate.pick))
    }
    var q = processorFirst(g, preQueryNorm(g, q0))
    if let processorSecond { q = processorSecond(g, g.silu(q)) }
    if shared && b > 1 { q = g.repeatBatch(q, b) }
    let a = keyValueAttention(g, query: q, inputs: e, keyValue: hiddenToKeyValue, heads: ctx.heads,
                              queryPositions: queryPositions, keyPositions: keyPositions, mask: mask)
    return outputLinear(g, a)
  }
}
