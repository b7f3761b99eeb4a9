using Akka.Actor;
using Akka.Configuration;
using Raid5Actors.Arrays;
using Raid5Actors.Buffers;
using Raid5Actors.Disks;
using Raid5Actors.Geometry;
using Xunit.Abstractions;
using static Raid5Actors.Arrays.ArrayProtocol;

namespace Raid5Actors.Tests.Arrays;

/// <summary>
/// Every bad input is refused with an exception that names the problem, and nothing is written:
/// member bytes are fingerprinted before and after, and a refused create leaves no file behind.
/// Where the problem can be undone, the array opens again afterwards with its data intact.
/// </summary>
public sealed class BadInputSpec(ITestOutputHelper output) : IDisposable
{
    private const long kMiB = 1L << 20;
    private const long kMemberBytes = 2 * kMiB;
    private static readonly Raid5CreateOptions kSmallArray = new(3, kMemberBytes, 4096);

    private readonly TemporaryFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    // ---- create: shape ----

    [Theory]
    [InlineData(2)]
    [InlineData(0)]
    [InlineData(17)]
    public async Task Creating_with_a_member_count_outside_3_to_16_is_refused_and_creates_nothing(int members)
    {
        var array = NewArray(MemberKind.Files);

        var error = await Assert.ThrowsAsync<Raid5GeometryException>(() => array.CreateAsync(new Raid5CreateOptions(members, kMemberBytes)));

        AssertNames(error, "members", $"not {members}");
        Assert.Empty(array.FilesInFolder());
    }

    [Fact]
    public async Task Creating_with_a_chunk_that_is_not_a_power_of_two_is_refused_and_creates_nothing()
    {
        var array = NewArray(MemberKind.Files);

        var error = await Assert.ThrowsAsync<Raid5GeometryException>(() => array.CreateAsync(new Raid5CreateOptions(3, kMemberBytes, 12288)));

        AssertNames(error, "power of two", "12288");
        Assert.Empty(array.FilesInFolder());
    }

    [Theory]
    [InlineData(2048)]
    [InlineData(8 << 20)]
    public async Task Creating_with_a_chunk_outside_4_KiB_to_4_MiB_is_refused_and_creates_nothing(int chunkBytes)
    {
        var array = NewArray(MemberKind.Files);

        var error = await Assert.ThrowsAsync<Raid5GeometryException>(() => array.CreateAsync(new Raid5CreateOptions(3, 16 * kMiB, chunkBytes)));

        AssertNames(error, "between", "4 KiB", "4 MiB", $"got {chunkBytes}");
        Assert.Empty(array.FilesInFolder());
    }

    [Fact]
    public void An_unknown_layout_name_is_refused_naming_it_and_the_valid_layouts()
    {
        var error = Assert.Throws<Raid5GeometryException>(() => Raid5LayoutNames.Parse("diagonal"));

        AssertNames(error, "'diagonal'", "left-symmetric", "parity-last");
    }

    [Fact]
    public async Task Creating_with_an_undefined_layout_value_is_refused_and_creates_nothing()
    {
        var array = NewArray(MemberKind.Files);

        var error = await Assert.ThrowsAsync<Raid5GeometryException>(
            () => array.CreateAsync(kSmallArray with { Layout = (Raid5Layout)42 }));

        AssertNames(error, "layout", "42", "left-symmetric");
        Assert.Empty(array.FilesInFolder());
    }

    [Fact]
    public async Task Creating_with_an_unknown_default_layout_in_the_configuration_is_refused_and_creates_nothing()
    {
        var array = NewArray(MemberKind.Files, ConfigurationFactory.ParseString("raid5.create.layout = diagonal"));

        var error = await Assert.ThrowsAsync<Raid5GeometryException>(() => array.CreateAsync(new Raid5CreateOptions(3, kMemberBytes)));

        AssertNames(error, "'diagonal'");
        Assert.Empty(array.FilesInFolder());
    }

    // ---- create: members ----

    [Theory]
    [InlineData(MemberKind.Files)]
    [InlineData(MemberKind.Memory)]
    public async Task Creating_on_blank_members_of_different_sizes_is_refused_and_changes_none_of_them(MemberKind kind)
    {
        var array = NewArray(kind);
        array.AddBlank(0, kMemberBytes);
        array.AddBlank(1, kMemberBytes + (64 << 10));
        array.AddBlank(2, kMemberBytes);
        var before = array.Fingerprint();

        var error = await Assert.ThrowsAsync<Raid5MemberException>(() => array.CreateAsync(new Raid5CreateOptions(3, MemberBytes: 0, 4096)));

        AssertNames(error, "different sizes", array.Members.Describe(1), $"{kMemberBytes + (64 << 10)} bytes");
        Assert.Equal(before, array.Fingerprint());
        Assert.False(File.Exists(array.DatabasePath));
        if (kind != MemberKind.Files)
            return; // a memory member cannot be resized: the undo below needs a file

        using (var file = new FileStream(array.MemberPath(1), FileMode.Open, FileAccess.Write))
            file.SetLength(kMemberBytes);
        await using var raid = await array.CreateAsync(new Raid5CreateOptions(3, MemberBytes: 0, 4096));
        Assert.Equal(2 * (kMemberBytes - kMiB), raid.CapacityBytes);
    }

    [Theory]
    [InlineData(MemberKind.Files)]
    [InlineData(MemberKind.Memory)]
    public async Task Creating_with_a_member_size_where_member_stores_already_exist_is_refused_and_changes_none_of_them(MemberKind kind)
    {
        var array = NewArray(kind);
        array.AddBlank(1, kMemberBytes);
        var before = array.Fingerprint();

        var error = await Assert.ThrowsAsync<Raid5OpenException>(() => array.CreateAsync(kSmallArray));

        AssertNames(error, "already holds", array.Members.Describe(1));
        Assert.Equal(before, array.Fingerprint());
        Assert.False(array.Members.Exists(0));
        Assert.False(File.Exists(array.DatabasePath));
    }

    [Theory]
    [InlineData(MemberKind.Files)]
    [InlineData(MemberKind.Memory)]
    public async Task Creating_in_a_folder_that_already_holds_an_array_is_refused_and_the_first_array_still_opens(MemberKind kind)
    {
        var array = NewArray(kind);
        var expected = await CreateWithDataAsync(array);
        var before = array.Fingerprint();

        var error = await Assert.ThrowsAsync<Raid5OpenException>(() => array.CreateAsync(kSmallArray));

        AssertNames(error, "already holds", array.DatabasePath);
        Assert.Equal(before, array.Fingerprint());
        await AssertOpensWithAsync(array, expected);
    }

    // ---- I/O ranges ----

    [Theory]
    [InlineData(MemberKind.Files)]
    [InlineData(MemberKind.Memory)]
    public async Task IO_beyond_the_end_of_the_device_is_refused_and_writes_nothing(MemberKind kind)
    {
        var array = NewArray(kind);
        var expected = await CreateWithDataAsync(array);
        await using var raid = await array.OpenAsync();
        var before = array.Fingerprint();
        var capacity = raid.CapacityBytes;

        var write = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => raid.WriteAsync(capacity - 512, new byte[1024]));
        var read = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => raid.ReadAsync(capacity, new byte[512]));
        // The actor checks too, for applications that send it messages directly.
        var sent = await raid.Actor.Ask<RequestFailed>(new Write(capacity, PooledBuffer.CopyOf(new byte[512])), TimeSpan.FromSeconds(10));

        AssertNames(write, "beyond the end", $"{capacity} bytes");
        AssertNames(read, "beyond the end", $"{capacity} bytes");
        AssertNames(Assert.IsType<ArgumentOutOfRangeException>(sent.Error), "beyond the end");
        Assert.Equal(before, array.Fingerprint());
        await expected.AssertReadsBackAsync(raid);
    }

    [Theory]
    [InlineData(MemberKind.Files, 100, 512)]
    [InlineData(MemberKind.Files, 512, 100)]
    [InlineData(MemberKind.Memory, 4095, 4096)]
    [InlineData(MemberKind.Memory, 4096, 4095)]
    public async Task IO_not_aligned_to_512_bytes_is_refused_and_writes_nothing(MemberKind kind, long offsetBytes, int lengthBytes)
    {
        var array = NewArray(kind);
        var expected = await CreateWithDataAsync(array);
        await using var raid = await array.OpenAsync();
        var before = array.Fingerprint();

        var write = await Assert.ThrowsAsync<ArgumentException>(() => raid.WriteAsync(offsetBytes, new byte[lengthBytes]));
        var read = await Assert.ThrowsAsync<ArgumentException>(() => raid.ReadAsync(offsetBytes, new byte[lengthBytes]));
        var sent = await raid.Actor.Ask<RequestFailed>(new Read(offsetBytes, lengthBytes), TimeSpan.FromSeconds(10));

        AssertNames(write, "multiples of 512");
        AssertNames(read, "multiples of 512");
        AssertNames(Assert.IsType<ArgumentException>(sent.Error), "multiples of 512");
        Assert.Equal(before, array.Fingerprint());
        await expected.AssertReadsBackAsync(raid);
    }

    [Theory]
    [InlineData(MemberKind.Files)]
    [InlineData(MemberKind.Memory)]
    public async Task IO_longer_than_max_request_bytes_is_refused_and_writes_nothing(MemberKind kind)
    {
        const int kMaxRequestBytes = 64 << 10;
        var array = NewArray(kind, ConfigurationFactory.ParseString($"raid5.max-request-bytes = {kMaxRequestBytes}"));
        var expected = await CreateWithDataAsync(array);
        await using var raid = await array.OpenAsync();
        var before = array.Fingerprint();

        var write = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => raid.WriteAsync(0, new byte[kMaxRequestBytes + 512]));
        var read = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => raid.ReadAsync(0, new byte[kMaxRequestBytes + 512]));

        AssertNames(write, "max-request-bytes", $"{kMaxRequestBytes}");
        AssertNames(read, "max-request-bytes", $"{kMaxRequestBytes}");
        Assert.Equal(before, array.Fingerprint());
        var largest = new byte[kMaxRequestBytes];
        await raid.ReadAsync(0, largest);
        Assert.True(expected.Slice(0, kMaxRequestBytes).Span.SequenceEqual(largest), "a read of exactly max-request-bytes returned other bytes");
        await expected.AssertReadsBackAsync(raid, pieceBytes: kMaxRequestBytes);
    }

    // ---- open: members that do not fit ----

    [Theory]
    [InlineData(MemberKind.Files)]
    [InlineData(MemberKind.Memory)]
    public async Task Opening_with_a_member_of_another_array_is_refused_and_opens_again_once_the_member_is_put_back(MemberKind kind)
    {
        var array = NewArray(kind);
        var expected = await CreateWithDataAsync(array);
        var other = NewArray(kind, name: "other");
        Guid otherId;
        await using (var raid = await other.CreateAsync(kSmallArray))
            otherId = raid.Metadata.ArrayId;
        var own = array.ReadMember(1);
        array.WriteMember(1, other.ReadMember(1));
        var before = array.Fingerprint();

        var error = await Assert.ThrowsAsync<Raid5OpenException>(array.OpenAsync);

        AssertNames(error, "belongs to array", otherId.ToString(), array.Members.Describe(1));
        Assert.Equal(before, array.Fingerprint());
        array.WriteMember(1, own);
        await AssertOpensWithAsync(array, expected);
    }

    [Theory]
    [InlineData(MemberKind.Files, -1, "stale")]
    [InlineData(MemberKind.Memory, -1, "stale")]
    [InlineData(MemberKind.Files, +1, "newer")]
    public async Task Opening_with_a_member_whose_event_count_differs_is_refused_and_opens_again_once_it_is_restored(
        MemberKind kind, int eventsDelta, string problem)
    {
        var array = NewArray(kind);
        var expected = await CreateWithDataAsync(array);
        var superblock = array.ReadSuperblock(2);
        array.WriteSuperblock(2, superblock with { Events = superblock.Events + eventsDelta });
        var before = array.Fingerprint();

        var error = await Assert.ThrowsAsync<Raid5OpenException>(array.OpenAsync);

        AssertNames(error, problem, array.Members.Describe(2), $"{superblock.Events + eventsDelta}");
        Assert.Equal(before, array.Fingerprint());
        array.WriteSuperblock(2, superblock);
        await AssertOpensWithAsync(array, expected);
    }

    [Fact]
    public async Task Opening_with_a_member_file_missing_is_refused_and_opens_again_once_the_file_is_back()
    {
        var array = NewArray(MemberKind.Files);
        var expected = await CreateWithDataAsync(array);
        var missing = array.ReadMember(2);
        File.Delete(array.MemberPath(2));
        var before = array.Fingerprint();

        var error = await Assert.ThrowsAsync<Raid5MemberException>(array.OpenAsync);

        AssertNames(error, "missing", array.MemberPath(2), "3 members");
        Assert.Equal(before, array.Fingerprint());
        Assert.False(File.Exists(array.MemberPath(2)), "a refused open created the missing member");
        array.WriteMember(2, missing);
        await AssertOpensWithAsync(array, expected);
    }

    [Fact]
    public async Task Opening_with_two_member_files_swapped_is_refused_naming_the_role()
    {
        var array = NewArray(MemberKind.Files);
        var expected = await CreateWithDataAsync(array);
        var (first, second) = (array.ReadMember(0), array.ReadMember(1));
        array.WriteMember(0, second);
        array.WriteMember(1, first);
        var before = array.Fingerprint();

        var error = await Assert.ThrowsAsync<Raid5OpenException>(array.OpenAsync);

        AssertNames(error, "holds role 1", array.MemberPath(0));
        Assert.Equal(before, array.Fingerprint());
        array.WriteMember(0, first);
        array.WriteMember(1, second);
        await AssertOpensWithAsync(array, expected);
    }

    [Fact]
    public async Task Opening_with_a_truncated_member_file_is_refused_naming_both_sizes()
    {
        var array = NewArray(MemberKind.Files);
        var expected = await CreateWithDataAsync(array);
        var whole = array.ReadMember(1);
        var truncatedBytes = kMemberBytes - (64 << 10);
        array.WriteMember(1, whole[..(int)truncatedBytes]);
        var before = array.Fingerprint();

        var error = await Assert.ThrowsAsync<Raid5OpenException>(array.OpenAsync);

        AssertNames(error, array.MemberPath(1), $"{truncatedBytes} bytes", $"needs {kMemberBytes} bytes");
        Assert.Equal(before, array.Fingerprint());
        array.WriteMember(1, whole);
        await AssertOpensWithAsync(array, expected);
    }

    [Fact]
    public async Task Opening_with_a_corrupt_superblock_is_refused_as_a_checksum_mismatch()
    {
        var array = NewArray(MemberKind.Files);
        var expected = await CreateWithDataAsync(array);
        var whole = array.ReadMember(0);
        var corrupt = whole.ToArray();
        corrupt[33] ^= 0x01; // inside the event count, covered by the checksum
        array.WriteMember(0, corrupt);
        var before = array.Fingerprint();

        var error = await Assert.ThrowsAsync<Raid5MemberException>(array.OpenAsync);

        AssertNames(error, "checksum", array.MemberPath(0));
        Assert.Equal(before, array.Fingerprint());
        array.WriteMember(0, whole);
        await AssertOpensWithAsync(array, expected);
    }

    private ArrayUnderTest NewArray(MemberKind kind, Config? config = null, string name = "array") =>
        new(_temp.PathOf(name), kind, config);

    // A small array with seeded data on it, stopped cleanly.
    private async Task<ExpectedDevice> CreateWithDataAsync(ArrayUnderTest array)
    {
        await using var raid = await array.CreateAsync(kSmallArray);
        var expected = new ExpectedDevice(raid.CapacityBytes, ExpectedDevice.NewSeed(output));
        foreach (var (offset, length) in expected.InterestingRanges(raid.Geometry, randomCount: 8))
            await expected.WriteAsync(raid, offset, length);
        return expected;
    }

    private static async Task AssertOpensWithAsync(ArrayUnderTest array, ExpectedDevice expected)
    {
        await using var raid = await array.OpenAsync();
        Assert.Equal("active", (await raid.GetStatusAsync()).State);
        await expected.AssertReadsBackAsync(raid);
    }

    private void AssertNames(Exception error, params string[] fragments)
    {
        output.WriteLine($"{error.GetType().Name}: {error.Message}");
        foreach (var fragment in fragments)
            Assert.Contains(fragment, error.Message, StringComparison.OrdinalIgnoreCase);
    }
}
