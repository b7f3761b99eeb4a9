using Raid5Actors.Tests.Arrays;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Cli;

/// <summary>
/// When nothing serves the folder, every command opens the array itself, does its work and closes
/// it: what one command changes, the next one (another process) reads back from the folder.
/// </summary>
public sealed class CliWithoutServerSpec(ITestOutputHelper output) : IDisposable
{
    private const int kMembers = 3;
    private const long kMemberDataBytes = 8L << 20;

    private readonly TemporaryFolder _temp = new();
    private readonly Raid5Command _raid5 = new(output);

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task Create_fail_status_detail_examine_and_add_work_on_a_folder_nothing_serves()
    {
        var dir = _temp.PathOf("array");

        var created = Raid5Command.ParseJson(await _raid5.RunOkAsync(
            "create", dir, "--members", $"{kMembers}", "--member-size", "9M", "--chunk", "64K", "--layout", "right-asymmetric", "--json"));
        Assert.Equal(kMembers, created.GetProperty("raidDevices").GetInt32());
        Assert.Equal((kMembers - 1) * kMemberDataBytes, created.CapacityBytes());
        Assert.Equal("right-asymmetric", created.GetProperty("layout").GetString());
        Assert.Equal(64 * 1024, created.GetProperty("chunkBytes").GetInt32());
        Assert.Equal(StatusJson.AllInSync(kMembers), created.RoleStates());
        Assert.Null(created.ServedBy());
        var arrayId = created.GetProperty("arrayId").GetString();
        Assert.Equal(
            ["array.db", "member-00.img", "member-01.img", "member-02.img"],
            Directory.EnumerateFiles(dir).Select(Path.GetFileName).Where(f => f is "array.db" || f!.EndsWith(".img", StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        Assert.False(File.Exists(Path.Combine(dir, "raid5.sock")), "a command that serves nothing left a control socket");

        Assert.Contains("member 1 marked faulty", (await _raid5.RunOkAsync("fail", dir, "1")).Stdout);

        var status = await _raid5.StatusJsonAsync(dir);
        Assert.Equal("degraded", status.State());
        Assert.Equal(new Dictionary<int, string> { [0] = "in-sync", [1] = "faulty", [2] = "in-sync" }, status.RoleStates());
        Assert.Null(status.ServedBy());
        Assert.Equal(arrayId, status.GetProperty("arrayId").GetString());
        var detail = (await _raid5.RunOkAsync("detail", dir)).Stdout;
        Assert.Contains("State : active, degraded", detail);
        Assert.Contains("Failed Devices : 1", detail);
        Assert.Matches(@"\n\s+1\s+1\s+faulty\s+\S+member-01\.img\n", detail);

        // The failed member missed the event that failed it; the others carry it.
        var survivor = Raid5Command.ParseJson(await _raid5.RunOkAsync("examine", Path.Combine(dir, "member-00.img"), "--json"));
        var failed = Raid5Command.ParseJson(await _raid5.RunOkAsync("examine", Path.Combine(dir, "member-01.img"), "--json"));
        Assert.Equal(arrayId, survivor.GetProperty("arrayId").GetString());
        Assert.Equal(arrayId, failed.GetProperty("arrayId").GetString());
        Assert.Equal(1, failed.GetProperty("role").GetInt32());
        Assert.Equal(status.GetProperty("events").GetInt64(), survivor.GetProperty("events").GetInt64());
        Assert.True(failed.GetProperty("events").GetInt64() < survivor.GetProperty("events").GetInt64(),
            $"member-01 has events {failed.GetProperty("events")}, member-00 {survivor.GetProperty("events")}");
        var examined = (await _raid5.RunOkAsync("examine", Path.Combine(dir, "member-00.img"))).Stdout;
        Assert.Contains($"Array UUID : {arrayId}", examined);
        Assert.Contains("Device Role : Active device 0", examined);
        Assert.Contains("Layout : right-asymmetric", examined);

        // Nothing serves the folder, so add runs the recovery in its own process, to the end.
        var add = await _raid5.RunOkAsync("add", dir);
        Assert.Contains("raid5: recovery finished: 100% of 8 MiB, member 1", add.Stdout);
        // The status printed at the end, read by the same process that ran the recovery.
        Assert.Contains("member-00.img[0] member-03.img[1] member-02.img[2]", add.Stdout);
        Assert.Contains("[3/3] [UUU]", add.Stdout);
        // And the new member's own superblock says so.
        var rebuilt = Raid5Command.ParseJson(await _raid5.RunOkAsync("examine", Path.Combine(dir, "member-03.img"), "--json"));
        Assert.Equal(arrayId, rebuilt.GetProperty("arrayId").GetString());
        Assert.Equal(1, rebuilt.GetProperty("role").GetInt32());
    }

    [Fact]
    public async Task A_missing_member_is_refused_with_the_flag_that_starts_it_and_assemble_with_it_runs_degraded()
    {
        var dir = _temp.PathOf("array");
        await _raid5.RunOkAsync("create", dir, "--members", $"{kMembers}", "--member-size", "9M", "--chunk", "64K");
        File.Delete(Path.Combine(dir, "member-02.img"));

        var refused = await _raid5.RunAsync("status", dir);

        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("member-02.img is missing", refused.Stderr);
        Assert.Contains("hint: raid5 assemble (or serve) --allow-degraded", refused.Stderr);
        var assembled = await _raid5.RunOkAsync("assemble", dir, "--allow-degraded", "--json");
        var status = Raid5Command.ParseJson(assembled);
        Assert.Equal("degraded", status.State());
        Assert.Equal("faulty", status.RoleStates()[2]);
    }
}
