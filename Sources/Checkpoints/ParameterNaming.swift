/// Maps the tensor names found in a file to the reference's own parameter names
/// (`encoder.blocks.0.attn_qkv.weight`), by removing the prefix that wrappers add.
///
/// Prefixes met in the reference ecosystem:
/// - `backbone.`: the Lightning module's attribute (PGM and SDTT `.ckpt` files), and the Hugging
///   Face `MDLM` class's own attribute (`kuleshov-group/mdlm-owt`, SDTT hub students trained from
///   the reference's own checkpoints);
/// - `backbone.backbone.`: a Lightning module wrapping the Hugging Face MDLM (SDTT students
///   distilled from `kuleshov-group/mdlm-owt`, and their hub uploads);
/// - `_orig_mod.`: `torch.compile`, at any depth (`backbone._orig_mod.`);
/// - `module.`: `DistributedDataParallel`;
/// - none: bare backbone state dicts and the folders this project writes.
enum ParameterNaming {
  /// The top-level modules of the reference networks (`DIT`, `PartitionDIT`, the HF `DITBackbone`).
  static let roots = ["vocab_embed.", "sigma_map.", "rotary_emb.", "blocks.", "encoder.", "decoder.", "output_layer."]

  /// Components a wrapper may put in front of the backbone's names, in any order and repetition.
  static let wrapperComponents = ["backbone.", "_orig_mod.", "module."]

  /// Prefixes listed in error messages (any combination of the components is accepted).
  static let knownPrefixes = ["", "backbone.", "backbone.backbone.", "backbone._orig_mod.", "_orig_mod.", "module."]

  /// Buffers the reference registers as persistent, so they appear in state dicts. They are
  /// checked against what the network computes, never loaded.
  static let rotaryBuffer = "rotary_emb.inv_freq"
  /// Non-persistent in the reference, but accepted (and checked) if a file holds it.
  static let positionBuffer = "decoder.group_swap.pos_freqs"
  static let buffers: Set<String> = [rotaryBuffer, positionBuffer]

  /// The common prefix and the names without it (same order). Throws `ImportError.unknownNames`
  /// listing every name that does not read as prefix + reference name.
  static func strip(_ names: [String], file: String) throws -> (prefix: String, names: [String]) {
    guard let first = names.first else {
      throw ImportError.unrecognisedArchitecture(file: file, reason: "the file holds no tensors")
    }
    let prefix = prefixOf(first) ?? ""
    var stripped: [String] = []
    var unknown: [String] = []
    for name in names {
      if name.hasPrefix(prefix), startsWithRoot(name.dropFirst(prefix.count)) {
        stripped.append(String(name.dropFirst(prefix.count)))
      } else {
        unknown.append(name)
      }
    }
    if !unknown.isEmpty {
      throw ImportError.unknownNames(file: file, names: unknown, supportedPrefixes: knownPrefixes)
    }
    return (prefix, stripped)
  }

  /// The wrapper prefix of one name, or nil if no sequence of wrapper components leads to a root.
  static func prefixOf(_ name: String) -> String? {
    var rest = Substring(name)
    while !startsWithRoot(rest) {
      guard let component = wrapperComponents.first(where: { rest.hasPrefix($0) }) else { return nil }
      rest = rest.dropFirst(component.count)
    }
    return String(name.dropLast(rest.count))
  }

  static func startsWithRoot(_ name: Substring) -> Bool {
    roots.contains { name.hasPrefix($0) }
  }
}
