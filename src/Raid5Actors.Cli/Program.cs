using Raid5Actors.Cli;

return await Raid5Cli.RunAsync(args).ConfigureAwait(false);
