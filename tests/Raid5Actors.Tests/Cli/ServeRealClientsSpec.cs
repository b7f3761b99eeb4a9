using System.Text.Json;
using Raid5Actors.Tests.Arrays;
using Raid5Actors.Tests.Nbd;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Cli;

/// <summary>
/// <c>raid5 serve</c> as a process, used by clients no one on the project wrote (libnbd's nbdinfo
/// and nbdcopy, qemu-img, qemu-io, fio's nbd engine), and managed meanwhile by other <c>raid5</c> processes
/// through its control socket: the bytes written are read back whole, degraded and rebuilt.
/// </summary>
public sealed class ServeRealClientsSpec(ITestOutputHelper output) : IDisposable
{
    private const int kMiB = 1 << 20;
    private const int kMembers = 4;
    // 33 MiB files, 1 MiB of superblock: 32 MiB of data each, 96 MiB of array.
    private const long kCapacityBytes = (kMembers - 1) * 32L * kMiB;
    // Where each client writes: nbdcopy [0, 64 MiB), qemu-img [64, 72 MiB), fio [80, 96 MiB); [72, 80 MiB) stays zero.
    private const int kCopyBytes = 64 * kMiB;
    private const int kImageOffset = 64 * kMiB;
    private const int kImageBytes = 8 * kMiB;
    private const int kFioOffsetMiB = 80;
    private const int kFioMiB = 16;

    private readonly TemporaryFolder _temp = new();
    private readonly Raid5Command _raid5 = new(output);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Nbd_clients_write_and_read_a_served_array_and_read_the_same_bytes_while_a_member_is_failed_and_after_raid5_add_rebuilt_it()
    {
        var dir = _temp.PathOf("array");
        await _raid5.RunOkAsync("create", dir, "--members", $"{kMembers}", "--member-size", "33M", "--chunk", "64K");
        await using var served = await ServedCli.StartAsync(output, dir);

        var status = await _raid5.StatusJsonAsync(dir);
        Assert.Equal(kCapacityBytes, status.CapacityBytes());
        Assert.Equal(served.ProcessId, status.ServedBy()!.Value.GetProperty("processId").GetInt32());
        var size = await ExternalTool.RunOkAsync(output, "nbdinfo", ["--size", served.NamedUri]);
        Assert.Equal(status.CapacityBytes(), long.Parse(size.Trim()));

        var random = TestData.NewRandom(output);
        var copied = TestData.Bytes(random, kCopyBytes);
        var image = TestData.Bytes(random, kImageBytes);
        await NbdcopyWriteAsync(copied, served.Uri);
        var whole = await NbdcopyReadAsync(served.NamedUri);
        Assert.Equal(TestData.Sha256(copied), TestData.Sha256(whole.AsSpan(0, kCopyBytes)));

        await QemuImgRoundTripAsync(image, served.Port);
        await FioVerifyAsync(served.Uri);

        whole = await NbdcopyReadAsync(served.Uri);
        Assert.Equal(TestData.Sha256(copied), TestData.Sha256(whole.AsSpan(0, kCopyBytes)));
        Assert.Equal(TestData.Sha256(image), TestData.Sha256(whole.AsSpan(kImageOffset, kImageBytes)));
        Assert.True(whole.AsSpan(kImageOffset + kImageBytes, (kFioOffsetMiB * kMiB) - kImageOffset - kImageBytes).IndexOfAnyExcept((byte)0) < 0,
            "the gap no client wrote is no longer zero");
        // fio checked its own region; from here on the whole device, fio's blocks included, must read the same.
        var expected = TestData.Sha256(whole);

        var fail = await _raid5.RunOkAsync("fail", dir, "1");
        Assert.Contains("member 1 marked faulty", fail.Stdout);
        status = await _raid5.StatusJsonAsync(dir);
        Assert.Equal("degraded", status.State());
        Assert.Equal("faulty", status.RoleStates()[1]);
        Assert.True(status.GetProperty("degraded").GetBoolean());
        Assert.Equal(expected, TestData.Sha256(await NbdcopyReadAsync(served.Uri)));

        // qemu-io writes while the array is degraded, off the stripe grid, and verifies the pattern it reads back.
        const int qemuIoOffset = (72 * kMiB) + 200704;
        const int qemuIoBytes = kMiB;
        await ExternalTool.RunOkAsync(output, "qemu-io", ["-f", "raw", served.Uri, "-c", $"write -P 0x5a {qemuIoOffset} {qemuIoBytes}", "-c", "flush"]);
        await ExternalTool.RunOkAsync(output, "qemu-io", ["-f", "raw", served.Uri, "-c", $"read -P 0x5a {qemuIoOffset} {qemuIoBytes}"]);
        var wrongPattern = await ExternalTool.RunAsync(output, "qemu-io", ["-f", "raw", served.Uri, "-c", $"read -P 0xa5 {qemuIoOffset} {qemuIoBytes}"]);
        Assert.NotEqual(0, wrongPattern.ExitCode);
        whole.AsSpan(qemuIoOffset, qemuIoBytes).Fill(0x5a);
        expected = TestData.Sha256(whole);

        var add = await _raid5.RunOkAsync("add", dir);
        Assert.Contains("raid5: recovery finished: 100%", add.Stdout);
        status = await _raid5.StatusJsonAsync(dir);
        Assert.Equal("active", status.State());
        Assert.Equal(StatusJson.AllInSync(kMembers), status.RoleStates());
        Assert.False(status.GetProperty("degraded").GetBoolean());
        Assert.Equal("recovery", status.LastSync()!.Value.GetProperty("kind").GetString());
        Assert.Equal(expected, TestData.Sha256(await NbdcopyReadAsync(served.NamedUri)));

        // The rebuilt member's parity agrees with its data in every row.
        var check = await _raid5.RunOkAsync("check", dir);
        Assert.Contains(", 0 mismatched rows", check.Stdout);
        var lastCheck = (await _raid5.StatusJsonAsync(dir)).LastSync()!.Value;
        Assert.Equal("check", lastCheck.GetProperty("kind").GetString());
        Assert.Equal(lastCheck.GetProperty("totalRows").GetInt64(), lastCheck.GetProperty("doneRows").GetInt64());
        Assert.Equal(0, lastCheck.GetProperty("mismatches").GetInt64());

        await served.StopAsync();
    }

    private async Task NbdcopyWriteAsync(byte[] bytes, string uri)
    {
        var source = _temp.PathOf("copied.img");
        await File.WriteAllBytesAsync(source, bytes);
        await ExternalTool.RunOkAsync(output, "nbdcopy", ["--flush", source, uri]);
    }

    /// <summary>The whole device, as nbdcopy reads it.</summary>
    private async Task<byte[]> NbdcopyReadAsync(string uri)
    {
        var back = _temp.PathOf("back.img");
        File.Delete(back);
        await ExternalTool.RunOkAsync(output, "nbdcopy", [uri, back]);
        var bytes = await File.ReadAllBytesAsync(back);
        Assert.Equal(kCapacityBytes, bytes.LongLength);
        return bytes;
    }

    /// <summary>qemu-img writes <paramref name="image"/> into a window of the device and reads the window back.</summary>
    private async Task QemuImgRoundTripAsync(byte[] image, int port)
    {
        var window = $"driver=raw,offset={kImageOffset},size={kImageBytes},file.driver=nbd,file.host=127.0.0.1,file.port={port},file.export={ServedCli.kExportName}";
        var source = _temp.PathOf("image.raw");
        await File.WriteAllBytesAsync(source, image);
        await ExternalTool.RunOkAsync(output, "qemu-img", ["convert", "-n", "-f", "raw", source, "--target-image-opts", window]);
        var back = _temp.PathOf("image-back.raw");
        await ExternalTool.RunOkAsync(output, "qemu-img", ["convert", "--image-opts", window, "-O", "raw", back]);
        Assert.Equal(TestData.Sha256(image), TestData.Sha256(await File.ReadAllBytesAsync(back)));
    }

    /// <summary>fio writes its region in random 4 KiB blocks, 16 in flight, then reads it all back checking each block's crc32c.</summary>
    private async Task FioVerifyAsync(string uri)
    {
        var stdout = await ExternalTool.RunOkAsync(output, "fio",
        [
            "--name=cli-verify", "--ioengine=nbd", $"--uri={uri}",
            "--rw=randwrite", "--bs=4k", "--iodepth=16", $"--offset={kFioOffsetMiB}M", $"--size={kFioMiB}M",
            "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--verify_dump=0",
            "--randrepeat=0", "--output-format=json",
        ], TimeSpan.FromSeconds(90));
        // fio's nbd engine prints "fio: connected to NBD server" before the report.
        var start = stdout.IndexOf("\n{", StringComparison.Ordinal);
        using var report = JsonDocument.Parse(start < 0 ? stdout : stdout[(start + 1)..]);
        var job = Assert.Single(report.RootElement.GetProperty("jobs").EnumerateArray());
        Assert.Equal(0, job.GetProperty("error").GetInt32());
        Assert.Equal(kFioMiB * 1024L, job.GetProperty("write").GetProperty("io_kbytes").GetInt64());
        Assert.Equal(kFioMiB * 1024L, job.GetProperty("read").GetProperty("io_kbytes").GetInt64());
    }
}
