using System.CommandLine;
using Raid5Actors.Arrays;
using Raid5Actors.Cli.Output;
using Raid5Actors.Geometry;

namespace Raid5Actors.Cli.Commands;

internal static class CreateCommand
{
    public static Command Build()
    {
        var folder = CommonOptions.Folder();
        var members = new Option<int>("--members", "-n") { Description = "Number of member disks (3 to 16)", Required = true, HelpName = "N" };
        var memberSize = new Option<string>("--member-size", "-z") { Description = "Size of each member file, e.g. 256M or 10G (1 MiB of it holds the superblock)", Required = true, HelpName = "SIZE" };
        var layout = new Option<string>("--layout") { Description = $"Parity layout: {Raid5LayoutNames.ValidNames()} (default from raid5.create.layout: left-symmetric)", HelpName = "NAME" };
        var chunk = new Option<string>("--chunk") { Description = "Chunk size, a power of two from 4K to 4M (default from raid5.create.chunk-bytes: 512K)", HelpName = "SIZE" };
        var spares = new Option<int>("--spares") { Description = "Hot spares to create beside the members", HelpName = "K" };
        var bitmapChunk = new Option<string>("--bitmap-chunk") { Description = "Bytes of array data per write-intent bitmap bit (default from raid5.bitmap.chunk-bytes)", HelpName = "SIZE" };
        var command = new Command("create", "Create a new array: N member files in DIR and its journal (like mdadm --create)")
        {
            folder, members, memberSize, layout, chunk, spares, bitmapChunk, CommonOptions.Json,
        }.WithConfiguration();
        command.SetRunner(async session =>
        {
            var parse = session.Parse;
            var dir = parse.GetValue(folder)!;
            var create = new Raid5CreateOptions(
                parse.GetValue(members),
                ParseSize(parse.GetValue(memberSize), "--member-size")!.Value,
                ChunkBytes: ParseSize(parse.GetValue(chunk), "--chunk") is { } c ? checked((int)c) : null,
                Layout: parse.GetValue(layout) is { } name ? ParseLayout(name) : null,
                BitmapChunkBytes: ParseSize(parse.GetValue(bitmapChunk), "--bitmap-chunk"),
                Spares: parse.GetValue(spares));
            var config = session.LoadConfig(dir);
            var array = await Raid5Array.CreateAsync(dir, create, new Raid5ArrayOptions { Config = config }).ConfigureAwait(false);
            await using (array.ConfigureAwait(false))
            {
                var handle = new Control.LocalArrayHandle(array, dir, servedBy: null, ownsArray: false);
                var status = await handle.StatusAsync(session.Cancellation).ConfigureAwait(false);
                if (parse.GetValue(CommonOptions.Json))
                    session.WriteJson(status);
                else
                    await session.Out.WriteAsync($"raid5: created array {status.ArrayId} in {status.Folder}\n{StatusText.Mdstat(status)}").ConfigureAwait(false);
            }
            return ExitCodes.kOk;
        });
        return command;
    }

    public static long? ParseSize(string? text, string option)
    {
        if (text is null)
            return null;
        return Sizes.TryParse(text, out var bytes)
            ? bytes
            : throw new CliUsageException($"{option} {text}: not a size (use bytes or a number with K, M, G or T, e.g. 64M)");
    }

    private static Raid5Layout ParseLayout(string name) =>
        Raid5LayoutNames.TryParse(name, out var layout)
            ? layout
            : throw new CliUsageException($"--layout {name}: unknown layout; valid layouts: {Raid5LayoutNames.ValidNames()}");
}
