import Testing

@Test func corpusPlaceholder() {}
