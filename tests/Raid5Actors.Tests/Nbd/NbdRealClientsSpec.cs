using System.Text.Json;
using Raid5Actors.Tests.Arrays;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Nbd;

/// <summary>
/// Clients no one on the project wrote (libnbd's nbdinfo and nbdcopy, QEMU's qemu-img, fio's nbd
/// engine) talk to the server as processes, and the bytes they read back, and the bytes the array
/// holds, are checked.
/// </summary>
public sealed class NbdRealClientsSpec(ITestOutputHelper output)
{
    private const int kMiB = 1 << 20;

    [Fact]
    public async Task Nbdinfo_sees_the_array_size_the_block_sizes_the_flags_and_the_export_list()
    {
        await using var served = await ServedArray.StartAsync(output);

        var size = await ExternalTool.RunOkAsync(output, "nbdinfo", ["--size", served.Uri]);
        Assert.Equal(served.CapacityBytes, long.Parse(size.Trim()));

        using var json = JsonDocument.Parse(await ExternalTool.RunOkAsync(output, "nbdinfo", ["--json", "--no-content", served.NamedUri]));
        var export = json.RootElement.GetProperty("exports")[0];
        output.WriteLine(export.ToString());
        Assert.Equal(served.CapacityBytes, export.GetProperty("export-size").GetInt64());
        Assert.Equal(512, export.GetProperty("block_size_minimum").GetInt32());
        Assert.Equal(4096, export.GetProperty("block_size_preferred").GetInt32());
        Assert.Equal(32 * kMiB, export.GetProperty("block_size_maximum").GetInt32());
        Assert.False(export.GetProperty("is_read_only").GetBoolean());
        foreach (var capability in new[] { "can_flush", "can_fua", "can_trim", "can_zero", "can_multi_conn" })
            Assert.True(export.GetProperty(capability).GetBoolean(), capability);

        var list = await ExternalTool.RunOkAsync(output, "nbdinfo", ["--list", "--json", "--no-content", served.Uri]);
        using var listed = JsonDocument.Parse(list);
        var names = listed.RootElement.GetProperty("exports").EnumerateArray().Select(e => e.GetProperty("export-name").GetString()).ToList();
        Assert.Equal([ServedArray.kExportName], names);
    }

    [Fact]
    public async Task Nbdcopy_writes_64_MiB_of_random_data_and_reads_back_the_same_bytes()
    {
        await using var served = await ServedArray.StartAsync(output);
        var random = TestData.NewRandom(output);
        var source = TestData.Bytes(random, 64 * kMiB);
        var sourcePath = served.PathOf("source.img");
        await File.WriteAllBytesAsync(sourcePath, source);

        await ExternalTool.RunOkAsync(output, "nbdcopy", ["--flush", sourcePath, served.Uri]);
        var backPath = served.PathOf("back.img");
        await ExternalTool.RunOkAsync(output, "nbdcopy", [served.NamedUri, backPath]);

        var back = await File.ReadAllBytesAsync(backPath);
        Assert.Equal(served.CapacityBytes, back.LongLength);
        Assert.Equal(TestData.Sha256(source), TestData.Sha256(back.AsSpan(0, source.Length)));
        Assert.True(back.AsSpan(source.Length).IndexOfAnyExcept((byte)0) < 0, "bytes past the copied image are no longer zero");
        // The array itself, not only the server's read path, holds the image.
        var held = new byte[source.Length];
        for (var offset = 0; offset < held.Length; offset += 16 * kMiB)
            await served.Array.ReadAsync(offset, held.AsMemory(offset, 16 * kMiB));
        Assert.Equal(TestData.Sha256(source), TestData.Sha256(held));
        await served.AssertIdleAsync();
    }

    [Fact]
    public async Task Qemu_img_converts_an_image_onto_file_members_at_an_unaligned_offset_and_back_and_it_survives_a_reopen()
    {
        // 196 KiB: 4 KiB-aligned, not stripe-aligned, so the image starts and ends mid-stripe.
        const long kOffset = 200704;
        const int kImageBytes = 8 * kMiB;
        await using var served = await ServedArray.StartAsync(output, MemberKind.Files, memberDataBytes: 4 * kMiB);
        var random = TestData.NewRandom(output);
        var image = TestData.Bytes(random, kImageBytes);
        var sourcePath = served.PathOf("source.raw");
        await File.WriteAllBytesAsync(sourcePath, image);
        var window = $"driver=raw,offset={kOffset},size={kImageBytes},file.driver=nbd,file.host=127.0.0.1,file.port={served.Port},file.export={ServedArray.kExportName}";

        await ExternalTool.RunOkAsync(output, "qemu-img", ["convert", "-n", "-f", "raw", sourcePath, "--target-image-opts", window]);
        var backPath = served.PathOf("back.raw");
        await ExternalTool.RunOkAsync(output, "qemu-img", ["convert", "--image-opts", window, "-O", "raw", backPath]);
        Assert.Equal(TestData.Sha256(image), TestData.Sha256(await File.ReadAllBytesAsync(backPath)));

        var whole = served.PathOf("whole.raw");
        await ExternalTool.RunOkAsync(output, "qemu-img", ["convert", "-f", "raw", "-O", "raw", served.Uri, whole]);
        var device = await File.ReadAllBytesAsync(whole);
        Assert.Equal(served.CapacityBytes, device.LongLength);
        Assert.True(device.AsSpan(0, (int)kOffset).IndexOfAnyExcept((byte)0) < 0, "bytes before the image changed");
        Assert.Equal(TestData.Sha256(image), TestData.Sha256(device.AsSpan((int)kOffset, kImageBytes)));

        var reopened = await served.StopAndReopenArrayAsync();
        var held = await TestData.ReadFromArrayAsync(reopened, kOffset, kImageBytes);
        Assert.Equal(TestData.Sha256(image), TestData.Sha256(held));
    }

    [Fact]
    public async Task Fio_random_4k_writes_at_queue_depth_32_verify_with_crc32c()
    {
        await using var served = await ServedArray.StartAsync(output);
        var report = await RunFioAsync(served, jobs: 1, regionMiB: 16, iodepth: 32);

        var job = Assert.Single(report.RootElement.GetProperty("jobs").EnumerateArray());
        AssertVerified(job, regionMiB: 16);
        await served.AssertIdleAsync();
    }

    [Fact]
    public async Task Several_connections_at_once_four_fio_jobs_each_verify_their_own_region()
    {
        await using var served = await ServedArray.StartAsync(output);
        var before = served.Server.GetStats().ConnectionsAccepted;
        var report = await RunFioAsync(served, jobs: 4, regionMiB: 4, iodepth: 16);

        var jobs = report.RootElement.GetProperty("jobs").EnumerateArray().ToList();
        Assert.Equal(4, jobs.Count);
        foreach (var job in jobs)
            AssertVerified(job, regionMiB: 4);
        Assert.True(served.Server.GetStats().ConnectionsAccepted - before >= 4, "fio's jobs did not each open a connection");
        await served.AssertIdleAsync();
    }

    /// <summary>Each job writes its region once in random 4 KiB blocks, then reads it all back checking every block's crc32c.</summary>
    private async Task<JsonDocument> RunFioAsync(ServedArray served, int jobs, int regionMiB, int iodepth)
    {
        var stdout = await ExternalTool.RunOkAsync(output, "fio",
        [
            "--name=nbd-verify", "--ioengine=nbd", $"--uri={served.Uri}",
            "--rw=randwrite", "--bs=4k", $"--iodepth={iodepth}", $"--size={regionMiB}M",
            $"--numjobs={jobs}", $"--offset_increment={regionMiB}M",
            "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--verify_dump=0",
            "--randrepeat=0", "--output-format=json",
        ], TimeSpan.FromSeconds(90));
        // fio's nbd engine prints "fio: connected to NBD server" before the report.
        var report = stdout.IndexOf("\n{", StringComparison.Ordinal);
        return JsonDocument.Parse(report < 0 ? stdout : stdout[(report + 1)..]);
    }

    private void AssertVerified(JsonElement job, int regionMiB)
    {
        output.WriteLine($"{job.GetProperty("jobname")}: write {job.GetProperty("write").GetProperty("iops"):F0} IOPS, verify read {job.GetProperty("read").GetProperty("io_kbytes")} KiB");
        Assert.Equal(0, job.GetProperty("error").GetInt32());
        Assert.Equal(regionMiB * 1024L, job.GetProperty("write").GetProperty("io_kbytes").GetInt64());
        Assert.Equal(regionMiB * 1024L, job.GetProperty("read").GetProperty("io_kbytes").GetInt64());
    }
}
