namespace Raid5Actors.Tests.Crash;

/// <summary>The data oracle of the crash property: which values a byte may hold after a crash.</summary>
public sealed class AllowedBytesSpec
{
    private static readonly byte[] kStart = [1, 1, 1, 1, 1, 1, 1, 1];

    [Fact]
    public void A_durable_write_must_be_read_back_exactly()
    {
        var writes = new[] { Write(0, 2, [5, 5, 5, 5]) };

        Assert.Empty(AllowedBytes.Check(kStart, writes, [0], [1, 1, 5, 5, 5, 5, 1, 1]));
        var lost = AllowedBytes.Check(kStart, writes, [0], [1, 1, 5, 1, 5, 5, 1, 1]);
        Assert.Equal((3L, 1L, (byte)5, (byte)1), (lost.Single().OffsetBytes, lost.Single().LengthBytes, lost.Single().Expected, lost.Single().Actual));
    }

    [Fact]
    public void A_write_that_was_not_durable_may_or_may_not_have_landed_sector_by_sector()
    {
        var writes = new[] { Write(0, 0, [7, 7, 7, 7]) };

        Assert.Empty(AllowedBytes.Check(kStart, writes, [], [7, 7, 1, 1, 1, 1, 1, 1]));
        Assert.Empty(AllowedBytes.Check(kStart, writes, [], [1, 1, 1, 1, 1, 1, 1, 1]));
        Assert.Single(AllowedBytes.Check(kStart, writes, [], [1, 1, 1, 1, 9, 1, 1, 1])); // nobody wrote 9 there
    }

    [Fact]
    public void Only_writes_issued_after_the_last_durable_one_may_show_through_it()
    {
        // w0 (not durable) then w1 (durable) over the same bytes, then w2 (not durable).
        var writes = new[] { Write(0, 0, [3, 3, 3, 3]), Write(1, 0, [4, 4, 4, 4]), Write(2, 2, [6, 6]) };

        Assert.Empty(AllowedBytes.Check(kStart, writes, [1], [4, 4, 6, 4, 1, 1, 1, 1]));
        var stale = AllowedBytes.Check(kStart, writes, [1], [3, 4, 4, 4, 1, 1, 1, 1]);
        Assert.Equal((0L, (byte)4, (byte)3), (stale.Single().OffsetBytes, stale.Single().Expected, stale.Single().Actual));
    }

    private static IssuedWrite Write(int index, long offsetBytes, byte[] data) => new(index, offsetBytes, data, fua: false);
}
