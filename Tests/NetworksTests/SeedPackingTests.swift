import Engine
import Networks
import Testing

/// Packing with seed tokens (the first-step latent): a seed joins the clean set at its masked
/// position, which stays a query; real clean tokens are read as they are.
@Suite struct SeedPackingTests {
  @Test func seedsJoinTheCleanSetAndPositionsStayQueries() {
    let m: Int32 = 9
    let tokens = TokenTensor(shape: [2, 5], values: [0, m, m, 5, m,   0, 2, m, m, m])
    let seeds = TokenTensor(shape: [2, 5], values: [m, 7, 3, m, 1,   m, m, m, m, m])
    let (batch, queries) = PackedBatch.packing(tokens, mask: m, only: [[4, 1], [2, 4]], seeds: seeds)
    #expect(batch.lengths == [5, 2])
    #expect(batch.tokens.values == [0, 7, 3, 5, 1,   0, 2, 0, 0, 0])
    #expect(batch.positions.values == [0, 1, 2, 3, 4,   0, 1, 0, 0, 0])
    #expect(queries == [[4, 1], [2, 4]], "the query order asked for")
    #expect(batch.queryPositions.values == [4, 1, 2, 4])
    // Without seeds, the usual partition.
    let (plain, _) = PackedBatch.packing(tokens, mask: m)
    #expect(plain.lengths == [2, 2] && plain.tokens.values == [0, 5, 0, 2])
  }
}
