// Quickstart: create a 4-member file-backed RAID5 array in a local folder, write and read back
// data, show the array's status, close it, reopen it from its folder and check the data again.
using System.Security.Cryptography;
using Raid5Actors;
using Raid5Actors.Arrays;
using Serilog;

Log.Logger = new LoggerConfiguration()
    .MinimumLevel.Information()
    .WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}")
    .CreateLogger();

var folder = args.Length > 0 ? args[0] : Path.Combine(Environment.CurrentDirectory, "quickstart-array");
if (Directory.Exists(folder))
{
    Console.WriteLine($"removing the previous run's array in {folder}");
    Directory.Delete(folder, recursive: true);
}

const long kMemberBytes = 64L << 20; // 64 MiB per member file
await using (var array = await Raid5Array.CreateAsync(folder, new Raid5CreateOptions(Members: 4, MemberBytes: kMemberBytes)))
{
    Console.WriteLine($"created {folder}: {array.CapacityBytes >> 20} MiB usable on 4 members of {kMemberBytes >> 20} MiB");

    var data = RandomNumberGenerator.GetBytes(1 << 20);
    await array.WriteAsync(offsetBytes: 3 << 20, data);
    await array.FlushAsync();

    var readBack = new byte[data.Length];
    await array.ReadAsync(offsetBytes: 3 << 20, readBack);
    Console.WriteLine($"wrote and read back 1 MiB at offset 3 MiB: {(readBack.AsSpan().SequenceEqual(data) ? "identical" : "DIFFERENT")}");
    Console.WriteLine(await array.GetStatusAsync());

    await File.WriteAllBytesAsync(Path.Combine(folder, "expected.bin"), data);
}

await using (var reopened = await Raid5Array.OpenAsync(folder))
{
    var expected = await File.ReadAllBytesAsync(Path.Combine(folder, "expected.bin"));
    var readBack = new byte[expected.Length];
    await reopened.ReadAsync(3 << 20, readBack);
    var same = readBack.AsSpan().SequenceEqual(expected);
    Console.WriteLine($"reopened from {folder}: data {(same ? "intact" : "LOST")}");
    Console.WriteLine(await reopened.GetStatusAsync());
    if (!same)
        return 1;
}
await Log.CloseAndFlushAsync();
return 0;
