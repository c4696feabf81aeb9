// Lightning checkpoints pickle their hyper-parameters as OmegaConf containers. They arrive as
// placeholders (nothing is executed), whose state holds the actual values under `_content`
// (containers) and `_val` (leaf nodes). This unwraps them into plain dicts, lists and scalars.

extension PickleValue {
  /// The value with OmegaConf `DictConfig`/`ListConfig`/value-node placeholders replaced by their
  /// contents: a `DictConfig` becomes a dict, a `ListConfig` a list, a node its `_val`. Anything
  /// else is returned unchanged (its insides are still unwrapped). Interpolations and missing
  /// values (`"${...}"`, `"???"`) stay as the strings OmegaConf stored.
  public var omegaConfContents: PickleValue {
    switch self {
    case .object(let object) where object.className.hasPrefix("omegaconf."):
      if let content = object["_content"] {
        switch content {
        case .dict(var d):
          d.entries = d.entries.map { PickleDict.Entry(key: $0.key, value: $0.value.omegaConfContents) }
          d.attributes = nil
          return .dict(d)
        case .list(let items):
          return .list(items.map(\.omegaConfContents))
        default:
          return content
        }
      }
      if let value = object["_val"] { return value.omegaConfContents }
      return self
    case .dict(var d):
      d.entries = d.entries.map { PickleDict.Entry(key: $0.key, value: $0.value.omegaConfContents) }
      return .dict(d)
    case .list(let items):
      return .list(items.map(\.omegaConfContents))
    case .tuple(let items):
      return .tuple(items.map(\.omegaConfContents))
    default:
      return self
    }
  }
}
